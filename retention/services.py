"""Writes of the retention app: legal holds, exports, pausing, deleting, consent.

Each function is atomic where it writes, leaves an AccessLog row for the
person or key who acted, and queues its slow work after commit (DESIGN.md
"Retention and privacy rights", STYLE.md "Writes, tasks and errors").
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.authentication import forget_api_keys
from accounts.models import AccessLog, ApiKey, Membership, Organization, Role, User
from accounts.services import SYSTEM, Actor, current_policy_version, record_access, revoke_api_key
from messaging.models import Message, Status
from messaging.services import release_held_messages
from messaging.status import apply_status
from providers.services import erase_credentials
from retention import purge
from retention.models import DataExport, LegalHold, PurgeRun

log = logging.getLogger(__name__)

# How long a worker's claim on an export build lasts before another may take it.
EXPORT_BUILD_LEASE = timedelta(minutes=30)
STOP_CHUNK = 500


class PrivacyError(Exception):
    """A request that cannot be done as asked; `code` is the API error code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def deletion_grace() -> timedelta:
    return timedelta(days=settings.ORGANIZATION_DELETION_GRACE_DAYS)


def export_lifetime() -> timedelta:
    return timedelta(hours=settings.DATA_EXPORT_HOURS)


def _publish(task, *args) -> None:
    """Publish a task; a broker that is down is logged, never raised (the hourly sweep finds the row)."""
    try:
        task.delay(*args)
    except Exception:
        log.exception("could not publish %s%r; the hourly sweep will pick it up", task.name, args)


# --- Legal holds (staff only: the admin and management commands, never the customer API) ---


@transaction.atomic
def set_legal_hold(organization: Organization, until: date, reason: str, actor: Actor = SYSTEM) -> LegalHold:
    """Keep every row of the organization until `until` (inclusive): the purge deletes nothing of it."""
    reason = (reason or "").strip()
    if not reason:
        raise PrivacyError("reason_required", "Give the reason for the legal hold.")
    if until < timezone.localdate():
        raise PrivacyError("invalid_date", "A legal hold must end today or later.")
    Organization.objects.filter(pk=organization.pk).update(legal_hold_until=until, legal_hold_reason=reason[:300])
    organization.legal_hold_until, organization.legal_hold_reason = until, reason[:300]
    hold = LegalHold.objects.create(
        organization=organization,
        change=LegalHold.Change.SET,
        until=until,
        reason=reason[:300],
        by=actor.user,
        by_label=actor.user.email if actor.user else "system",
    )
    record_access(AccessLog.Action.LEGAL_HOLD, actor, organization=organization, change="set", until=until.isoformat())
    return hold


@transaction.atomic
def lift_legal_hold(organization: Organization, actor: Actor = SYSTEM, reason: str = "") -> LegalHold | None:
    """End the legal hold; the next purge applies the normal retention. None if there was no hold."""
    if organization.legal_hold_until is None and not organization.legal_hold_reason:
        return None
    Organization.objects.filter(pk=organization.pk).update(legal_hold_until=None, legal_hold_reason="")
    organization.legal_hold_until, organization.legal_hold_reason = None, ""
    hold = LegalHold.objects.create(
        organization=organization,
        change=LegalHold.Change.LIFTED,
        reason=(reason or "")[:300],
        by=actor.user,
        by_label=actor.user.email if actor.user else "system",
    )
    record_access(AccessLog.Action.LEGAL_HOLD, actor, organization=organization, change="lifted")
    return hold


# --- Export ----------------------------------------------------------------------------------


def request_export(organization: Organization, actor: Actor = SYSTEM, *, format: str = "json") -> DataExport:
    """Create an export (JSON or CSV files in a zip) and build it after commit.

    An export of the same format still being built is returned instead of a new one.
    """
    if format not in DataExport.Format.values:
        raise PrivacyError("invalid_format", f"An export is {' or '.join(DataExport.Format.values)}, not {format!r}.")
    with transaction.atomic():
        pending = (
            DataExport.objects.select_for_update()
            .filter(organization=organization, state=DataExport.State.PENDING, format=format)
            .first()
        )
        if pending is not None:
            return pending
        user = actor.user
        export = DataExport.objects.create(
            organization=organization,
            format=format,
            requested_by=user,
            requested_by_label=user.email if user else (f"key {actor.api_key.prefix}" if actor.api_key else ""),
        )
        record_access(
            AccessLog.Action.EXPORT_REQUESTED,
            actor,
            organization=organization,
            export=str(export.public_id),
            format=format,
        )
        from retention import tasks

        transaction.on_commit(lambda: _publish(tasks.build_export, export.pk))
    return export


def build_export(export_id: int) -> bool:
    """Build the zip of an export (safe to run twice: the build is claimed). True if this call built it."""
    from retention import export as exporter

    now = timezone.now()
    claimed = (
        DataExport.objects.filter(pk=export_id, state=DataExport.State.PENDING)
        .filter(Q(started_at__isnull=True) | Q(started_at__lt=now - EXPORT_BUILD_LEASE))
        .update(started_at=now)
    )
    if not claimed:
        return False
    export = DataExport.objects.select_related("organization").get(pk=export_id)
    try:
        name, size = exporter.write_zip(export)
    except Exception as exc:
        log.exception("export %s failed", export.public_id)
        DataExport.objects.filter(pk=export.pk, state=DataExport.State.PENDING).update(
            state=DataExport.State.FAILED, error=str(exc)[:500]
        )
        return False
    ready_at = timezone.now()
    updated = DataExport.objects.filter(pk=export.pk, state=DataExport.State.PENDING).update(
        state=DataExport.State.READY, file=name, size=size, ready_at=ready_at, expires_at=ready_at + export_lifetime()
    )
    if not updated:
        # Someone else finished or gave it up meanwhile: our file is not referenced.
        purge._delete_files([name])
    return bool(updated)


def sweep_exports() -> int:
    """Remove files of expired and downloaded exports; publish builds that a lost task left pending.

    Returns how many builds were published again (the hourly beat task).
    """
    from retention import tasks

    now = timezone.now()
    purge.expire_exports(purge.Context(), now)
    waiting = DataExport.objects.filter(
        state=DataExport.State.PENDING, created_at__lt=now - timedelta(minutes=5)
    ).exclude(started_at__gt=now - EXPORT_BUILD_LEASE)
    ids = list(waiting.values_list("pk", flat=True)[:100])
    for pk in ids:
        _publish(tasks.build_export, pk)
    return len(ids)


def claim_download(export: DataExport, actor: Actor = SYSTEM) -> bool:
    """Mark a ready export downloaded, once. False if it was downloaded already, expired or not ready."""
    now = timezone.now()
    with transaction.atomic():
        updated = DataExport.objects.filter(pk=export.pk, state=DataExport.State.READY, expires_at__gt=now).update(
            state=DataExport.State.DOWNLOADED, downloaded_at=now
        )
        if updated:
            export.state, export.downloaded_at = DataExport.State.DOWNLOADED, now
            record_access(
                AccessLog.Action.EXPORT_DOWNLOADED,
                actor,
                organization=export.organization,
                export=str(export.public_id),
            )
    return bool(updated)


# --- Restriction of processing ------------------------------------------------------------------


def stop_pending_messages(organization: Organization, *, status: str, code: str, reason: str) -> int:
    """Move the organization's scheduled and queued messages to `status` (rejected or canceled).

    Each message goes through `apply_status` under its row lock, like a
    cancel: a worker that claimed it first (now `sending`) keeps it, since
    the provider may already have it. Returns how many were stopped.
    """
    stopped = 0
    waiting = Message.objects.filter(organization=organization, status__in=[Status.SCHEDULED, Status.QUEUED])
    while True:
        ids = list(waiting.order_by("pk").values_list("pk", flat=True)[:STOP_CHUNK])
        if not ids:
            return stopped
        for pk in ids:
            with transaction.atomic():
                current = Message.objects.select_for_update().filter(pk=pk).values_list("status", flat=True).first()
                if current not in (Status.SCHEDULED, Status.QUEUED):
                    continue
                event = apply_status(pk, status, source="admin", raw_status=code, error_code=code, error_message=reason)
                stopped += bool(event and event.applied)
        if len(ids) < STOP_CHUNK:
            return stopped


PAUSED_MESSAGE = "Sending is paused for this organization."


def _canceled_reason(what: str, actor: Actor) -> str:
    who = actor.user.email if actor.user else (f"API key {actor.api_key.prefix}" if actor.api_key else "Jood staff")
    return f"Canceled when {who} {what} on {timezone.now():%Y-%m-%d %H:%M} UTC; it was never sent."


def _switch(organization: Organization, field: str, on: bool, action: str, actor: Actor, **detail) -> bool:
    """Turn one of the organization's switches (`paused_at`, `processing_restricted_at`) on or off, once.

    Only a change is logged and forgets the cached API keys; turning one off
    releases the held messages unless the other still holds them. False if
    the switch was already so.
    """
    with transaction.atomic():
        updated = Organization.objects.filter(pk=organization.pk, **{f"{field}__isnull": on}).update(
            **{field: timezone.now() if on else None}
        )
        organization.refresh_from_db(fields=[field])
        if updated:
            record_access(action, actor, organization=organization, **detail)
            # Cached keys carry their organization: this process at once, the others within seconds.
            forget_api_keys()
            transaction.on_commit(forget_api_keys)
            if not on and not organization.is_paused:
                release_held_messages(organization)
    return bool(updated)


def pause_organization(organization: Organization, actor: Actor = SYSTEM, *, cancel_waiting: bool = False) -> bool:
    """Pause sending: new sends are rejected with `organization_paused`; waiting messages wait.

    Messages already scheduled or queued are not destroyed: they go when
    sending resumes, or, with `cancel_waiting`, are canceled now with a
    reason the customer sees on each message. Returns False if it was
    paused already (nothing logged).
    """
    updated = _switch(organization, "paused_at", True, AccessLog.Action.PAUSED, actor, cancel_waiting=cancel_waiting)
    if updated and cancel_waiting:
        stopped = stop_pending_messages(
            organization,
            status=Status.CANCELED,
            code="organization_paused",
            reason=_canceled_reason("paused sending", actor),
        )
        log.info("organization %s paused; %d waiting messages canceled", organization.pk, stopped)
    return bool(updated)


def resume_organization(organization: Organization, actor: Actor = SYSTEM) -> bool:
    """Lift the pause: sends are accepted again and waiting messages go. False if it was not paused.

    Refused while a deletion is pending. Messages still wait if processing is restricted.
    """
    if organization.deletion_requested_at is not None:
        raise PrivacyError(
            "deletion_requested", "This organization is scheduled for deletion: cancel the deletion first."
        )
    return _switch(organization, "paused_at", False, AccessLog.Action.RESUMED, actor)


RESTRICTION_MESSAGE = "Processing is restricted for this organization."


def restrict_processing(organization: Organization, actor: Actor = SYSTEM) -> bool:
    """Restrict processing (an owner's switch of its own): nothing is sent, the data is kept, reversible.

    New sends are rejected with `processing_restricted`; waiting messages wait.
    False if it was restricted already.
    """
    return _switch(organization, "processing_restricted_at", True, AccessLog.Action.PROCESSING_RESTRICTED, actor)


def lift_restriction(organization: Organization, actor: Actor = SYSTEM) -> bool:
    """Lift the restriction of processing; waiting messages go unless sending is also paused."""
    return _switch(organization, "processing_restricted_at", False, AccessLog.Action.RESTRICTION_LIFTED, actor)


def enforce_pauses() -> int:
    """Cancel messages that slipped into the queue of an organization being deleted (a send that raced it).

    Paused and restricted organizations' messages are left to wait.
    """
    stopped = 0
    deleting = Organization.objects.filter(deletion_requested_at__isnull=False)
    for organization in deleting.filter(
        pk__in=Message.objects.filter(status__in=[Status.SCHEDULED, Status.QUEUED]).values("organization_id")
    ):
        stopped += stop_pending_messages(
            organization, status=Status.CANCELED, code="organization_deleted", reason=DELETION_MESSAGE
        )
    return stopped


# --- Deletion ------------------------------------------------------------------------------------

DELETION_MESSAGE = "The organization asked for its deletion."


def request_organization_deletion(organization: Organization, actor: Actor = SYSTEM) -> Organization:
    """Delete an organization: credentials and keys at once, sending stopped, the rest after the grace period.

    Provider credentials are emptied (NULL) and every API key revoked in the
    same transaction as the request; waiting messages are canceled; the
    hourly `delete_due_organizations` erases everything else when
    `deletion_scheduled_for` comes (ORGANIZATION_DELETION_GRACE_DAYS, 7 by
    default). Staff can cancel it until then, but credentials and keys stay gone.
    """
    now = timezone.now()
    with transaction.atomic():
        locked = Organization.objects.select_for_update().get(pk=organization.pk)
        if locked.deletion_requested_at is not None:
            organization.deletion_requested_at = locked.deletion_requested_at
            organization.deletion_scheduled_for = locked.deletion_scheduled_for
            return organization
        locked.deletion_requested_at = now
        locked.deletion_scheduled_for = now + deletion_grace()
        locked.paused_at = locked.paused_at or now
        locked.save(update_fields=["deletion_requested_at", "deletion_scheduled_for", "paused_at"])
        erase_credentials(locked, actor=actor)
        for key in ApiKey.objects.filter(organization=locked, revoked_at__isnull=True):
            revoke_api_key(key, actor=actor)
        record_access(
            AccessLog.Action.DELETION_REQUESTED,
            actor,
            organization=locked,
            scheduled_for=locked.deletion_scheduled_for.isoformat(),
        )
    for name in ("deletion_requested_at", "deletion_scheduled_for", "paused_at"):
        setattr(organization, name, getattr(locked, name))
    stop_pending_messages(organization, status=Status.CANCELED, code="organization_deleted", reason=DELETION_MESSAGE)
    return organization


@transaction.atomic
def cancel_organization_deletion(organization: Organization, actor: Actor = SYSTEM, *, resume: bool = True) -> bool:
    """Keep the organization (its owner in the portal, or staff) until the grace period ends.

    Sending resumes (with `resume`); erased credentials and revoked keys are not restored.
    """
    updated = Organization.objects.filter(pk=organization.pk, deletion_requested_at__isnull=False).update(
        deletion_requested_at=None, deletion_scheduled_for=None
    )
    organization.deletion_requested_at = organization.deletion_scheduled_for = None
    if updated:
        record_access(AccessLog.Action.DELETION_REQUESTED, actor, organization=organization, change="canceled")
        if resume:
            resume_organization(organization, actor)
    return bool(updated)


def delete_due_organizations(
    *, now: datetime | None = None, budget: float | None = None, trigger: str = "beat"
) -> list[str]:
    """Erase every organization whose deletion is due (not under a legal hold). Returns their public ids.

    Shares one time budget (PURGE_TIME_BUDGET_SECONDS); an organization not
    finished in it is finished by the next run.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    due = Organization.objects.filter(deletion_scheduled_for__lte=now).exclude(legal_hold_until__gte=today)
    ctx = purge.Context(budget=purge.budget_seconds() if budget is None else budget)
    done: list[str] = []
    for organization in due.order_by("deletion_scheduled_for", "pk"):
        if ctx.out_of_time():
            break
        record = PurgeRun.objects.create(
            kind=PurgeRun.Kind.ORGANIZATION_DELETION,
            organization=organization,
            trigger=trigger,
            cutoffs={"organization": str(organization.public_id)},
        )
        ctx.deleted.clear()
        error = ""
        gone = False
        try:
            gone = purge.erase_organization(organization, ctx)
        except Exception:
            import traceback

            error = traceback.format_exc()
            log.exception("erasing organization %s failed", organization.pk)
        record.finished_at = timezone.now()
        record.completed = gone and not error
        record.deleted = dict(ctx.deleted)
        record.duration_seconds = round(ctx.clock() - ctx.started, 3)
        record.error = error[-5000:]
        record.save(update_fields=["finished_at", "completed", "deleted", "duration_seconds", "error"])
        if gone:
            record_access(
                AccessLog.Action.ORGANIZATION_DELETED,
                SYSTEM,
                label="system",
                organization_public_id=str(organization.public_id),
                requested_at=organization.deletion_requested_at.isoformat()
                if organization.deletion_requested_at
                else None,
                rows=sum(record.deleted.values()),
            )
            done.append(str(organization.public_id))
    return done


# --- People --------------------------------------------------------------------------------------


def last_owned_organizations(user: User) -> list[Organization]:
    """Organizations (not being deleted) in which the user is the only owner."""
    owned = Membership.objects.filter(
        user=user, role=Role.OWNER, organization__deletion_requested_at__isnull=True
    ).select_related("organization")
    lonely = []
    for membership in owned:
        others = (
            Membership.objects.filter(organization=membership.organization_id, role=Role.OWNER)
            .exclude(user=user)
            .exists()
        )
        if not others:
            lonely.append(membership.organization)
    return lonely


@transaction.atomic
def delete_user(user: User, actor: Actor = SYSTEM) -> None:
    """Delete a person's account. Refused while they are the last owner of an organization.

    Their memberships go with them; rows they created (keys, batches, access
    log) keep no link to them, and the access log keeps their address as
    `actor_label`, as a record of who did what.
    """
    lonely = last_owned_organizations(user)
    if lonely:
        names = ", ".join(o.name for o in lonely)
        raise PrivacyError(
            "last_owner",
            f"You are the only owner of {names}: make someone else an owner or delete the organization first.",
        )
    email = user.email
    organizations = [m.organization for m in Membership.objects.filter(user=user).select_related("organization")]
    for organization in organizations or [None]:
        record_access(AccessLog.Action.USER_DELETED, actor, organization=organization, user_email=email)
    user.delete()


def accept_privacy_policy(user: User, actor: Actor = SYSTEM, *, confirmed_adult: bool = False) -> None:
    """Record that the user accepted the current privacy policy (and, if asked, is 18 or older).

    Consent given again after a withdrawal lifts the withdrawal's restriction.
    """
    now = timezone.now()
    version = current_policy_version()
    fields = {"privacy_policy_version": version, "privacy_accepted_at": now, "consent_withdrawn_at": None}
    if confirmed_adult and user.confirmed_adult_at is None:
        fields["confirmed_adult_at"] = now
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(**fields)
        for name, value in fields.items():
            setattr(user, name, value)
        organizations = [m.organization for m in Membership.objects.filter(user=user).select_related("organization")]
        for organization in organizations or [None]:
            record_access(
                AccessLog.Action.CONSENT,
                actor,
                organization=organization,
                privacy_policy_version=version,
                confirmed_adult=bool(user.confirmed_adult_at),
            )


def withdraw_consent(user: User, actor: Actor = SYSTEM) -> bool:
    """Withdraw the person's consent without deleting the account. False if it was withdrawn already.

    The account is kept with all its data and restricted: the portal is
    read-only for them (no sending, no changes; their own export, giving
    consent again and deleting the account stay open). Giving consent again
    (`accept_privacy_policy`) lifts it.
    """
    now = timezone.now()
    with transaction.atomic():
        updated = User.objects.filter(pk=user.pk, consent_withdrawn_at__isnull=True).update(consent_withdrawn_at=now)
        if updated:
            user.consent_withdrawn_at = now
            organizations = [
                m.organization for m in Membership.objects.filter(user=user).select_related("organization")
            ]
            for organization in organizations or [None]:
                record_access(AccessLog.Action.CONSENT_WITHDRAWN, actor, organization=organization)
    return bool(updated)


def export_personal_data(user: User, actor: Actor = SYSTEM, *, format: str = "json") -> tuple[bytes, str]:
    """Build the person's own data (profile, access log, actions) as JSON or a zip of CSVs; log it.

    Returns the bytes and the file extension.
    """
    from retention import export as exporter

    if format == "json":
        data, extension = exporter.personal_json(user), "json"
    elif format == "csv":
        data, extension = exporter.personal_csv_zip(user), "zip"
    else:
        raise PrivacyError("invalid_format", f"Your data is exported as json or csv, not {format!r}.")
    organizations = [m.organization for m in Membership.objects.filter(user=user).select_related("organization")]
    for organization in organizations or [None]:
        record_access(AccessLog.Action.PERSONAL_EXPORT, actor, organization=organization, format=format)
    return data, extension


def waiting_messages(organization: Organization) -> int:
    """How many of the organization's messages wait to be sent (scheduled or queued)."""
    return Message.objects.filter(organization=organization, status__in=[Status.SCHEDULED, Status.QUEUED]).count()
