"""Writes of the messaging app: accepting messages, cancelling and retrying them, opt-outs, own templates.

Every send path (API, portal, bulk) goes through `accept_messages`: the
`check_*` functions decide (no writes), `do_accept_messages` writes every
row in one transaction (bulk with one COPY or `bulk_create`) and publishes
dispatch tasks after commit. Views and the API write nothing of their own:
each write here leaves its event or its access-log row.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import AccessLog, Organization
from accounts.services import SYSTEM, Actor, record_access
from jood import placeholders
from jood.phones import InvalidNumber, to_e164
from messaging import sms
from messaging.bulk import insert_rows
from messaging.models import (
    Batch,
    ConversationWindow,
    Message,
    MessageEvent,
    OptOut,
    Status,
    Template,
)
from messaging.status import StatusChange, apply_status, apply_statuses, signal_on_commit
from providers.base import provider_names
from providers.models import Channel, ProviderAccount

log = logging.getLogger(__name__)

# SMS providers that carry media (MMS, `supports_mms` on the adapter); routing keeps a message with media to these.
MMS_PROVIDERS = tuple(provider_names(supports_mms=True))
MAX_BULK = 10_000
WHATSAPP_WINDOW = timedelta(hours=24)


class SendError(Exception):
    """The whole request cannot be accepted (HTTP 400 in the API)."""

    def __init__(self, code: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}


@dataclass
class Recipient:
    to: str
    params: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class SendRequest:
    """What the caller asks for; the same for one message and a bulk send."""

    channel: str
    recipients: list[Recipient]
    body: str = ""
    template: Template | None = None
    media: list[dict] = field(default_factory=list)  # [{"kind", "url"} | {"kind", "media_id"}]
    provider_account: ProviderAccount | None = None
    sender: str = ""
    scheduled_at: datetime | None = None
    callback_url: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    batch_name: str = ""
    row_offset: int | None = None  # a portal upload: recipient i is row i + row_offset of the file


@dataclass
class Refusal:
    index: int
    to: str
    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)  # reason, parameter


@dataclass
class AcceptResult:
    messages: list[Message]  # empty for a bulk send written with COPY: use the counts
    refused: list[Refusal]
    batch: Batch | None = None
    accepted: int = 0  # rows written (queued, scheduled or rejected)
    rejected: int = 0  # rows written as rejected (opt-out, paused, closed window)
    ids: list[int] = field(default_factory=list)  # the primary keys of the rows written, in the recipients' order


# The API's limit on a body, applied to the text a template renders too: a
# parameter cannot make a message longer than a body may be (issue 13).
MAX_BODY_CHARS = 4096


class ParameterError(ValueError):
    """A template parameter that is not text or a number (a dict, a list, true/false)."""

    def __init__(self, name: str, value: Any):
        self.name = name
        kind = "true/false" if isinstance(value, bool) else type(value).__name__
        super().__init__(f"Template parameter {name!r} must be text or a number, not {kind}.")


def parameter_text(name: str, value: Any) -> str:
    """Return a parameter as text: a string as it is, a number converted; raise ParameterError otherwise."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return str(value)
    raise ParameterError(name, value)


def render(template_body: str, params: dict[str, Any]) -> str:
    """Fill {{name}} placeholders; raise KeyError naming the first missing one, ParameterError for a non-text one."""
    names = placeholders.names(template_body, numeric=False)
    missing = [name for name in names if params.get(name) in (None, "")]
    if missing:
        raise KeyError(missing[0])
    values = {name: parameter_text(name, params[name]) for name in names}
    return placeholders.render(template_body, values.get, numeric=False)


def _too_long(length: int) -> SendError:
    return SendError(
        "body_too_long",
        f"The message would be {length:,} characters; at most {MAX_BODY_CHARS:,} (parameters included).",
        {"length": length, "max_length": MAX_BODY_CHARS},
    )


def eligible_accounts(organization: Organization, channel: str) -> list[ProviderAccount]:
    """The organization's active accounts for a channel, by priority (credentials not loaded nor decrypted)."""
    return list(
        ProviderAccount.objects.filter(organization=organization, channel=channel, is_active=True)
        .defer("credentials", "webhook_secret")
        .order_by("priority", "id")
    )


def _check_whatsapp_template(template: Template, params: dict[str, Any]) -> None:
    """Refuse a WhatsApp template that is not approved or whose parameters do not match."""
    if not template.is_approved:
        raise SendError(
            "template_not_approved",
            f"WhatsApp template {template.name!r} ({template.language}) is {template.approval_status or 'not approved'}"
            "; only approved templates can be sent.",
        )
    from providers import whatsapp

    try:
        components = whatsapp_components(params)
    except ParameterError as exc:
        raise SendError("invalid_parameter", str(exc), {"parameter": exc.name}) from None
    length = 0
    for component in components:
        for parameter in component.get("parameters") or [] if isinstance(component, dict) else []:
            text = parameter.get("text") if isinstance(parameter, dict) else None
            if text is not None and not isinstance(text, str):
                raise SendError("invalid_parameter", "A text parameter must be text.", {"parameter": text})
            length += len(text or "")
    if length > MAX_BODY_CHARS:
        raise _too_long(length)
    try:
        whatsapp.check_template_parameters(template.components, components)
    except ValueError as exc:
        raise SendError("template_parameters", str(exc)) from None


def whatsapp_components(params: dict[str, Any]) -> list[dict]:
    """Turn {"header": [...], "body": [...], "buttons": [...]} (or Meta components) into Meta components."""
    if isinstance(params.get("components"), list):
        return params["components"]
    components: list[dict] = []

    def text_params(values):
        if not isinstance(values, list):
            values = [values]
        return [v if isinstance(v, dict) else {"type": "text", "text": parameter_text("text", v)} for v in values]

    if params.get("header"):
        components.append({"type": "header", "parameters": text_params(params["header"])})
    if params.get("body"):
        components.append({"type": "body", "parameters": text_params(params["body"])})
    for index, button in enumerate(params.get("buttons") or []):
        if isinstance(button, dict) and "type" in button and "parameters" in button:
            components.append({"type": "button", "index": str(index), **button})
        else:
            components.append(
                {"type": "button", "sub_type": "url", "index": str(index), "parameters": text_params([button])}
            )
    return components


# --- accepting messages: checks (no writes) and one writer ---------------------------------------
#
# As Zulip splits its actions into check_* and do_*: the checks decide, the
# writer writes what they decided. Every send path (the API's fast path and
# its serializer path, bulk, the portal's send, reply and bulk upload) and the
# portal's bulk preview call the same checks, so a preview cannot disagree
# with what is accepted.

# One accepted recipient, as written: to, body, parameters, metadata, status, error code and text,
# SMS info. A plain tuple: a bulk send builds 10,000 of them (COPY writes them as they are).
Row = tuple


def check_request(organization: Organization, request: SendRequest) -> list[ProviderAccount]:
    """Refuse a request that cannot be accepted at all (raise SendError); return the accounts routing may use.

    A synced WhatsApp template is sent from its own account: `request.provider_account` is set to it.
    """
    if len(request.recipients) > MAX_BULK:
        raise SendError("too_many_recipients", f"At most {MAX_BULK} recipients per request.")
    if request.channel not in Channel.values:
        raise SendError("invalid_channel", f"Unknown channel {request.channel!r}.")
    template = request.template
    if template is not None and template.channel != request.channel:
        raise SendError("template_channel", f"Template {template.name!r} is for {template.channel}.")
    if template is None and not request.body and not request.media:
        raise SendError("empty_message", "Give a body, a template or media.")
    account = request.provider_account
    if request.channel == Channel.SMS and request.media and account is not None:
        if account.provider not in MMS_PROVIDERS:
            raise SendError("media_unsupported", f"{account.get_provider_display()} cannot send MMS.")
    if _is_whatsapp_template(template) and template.provider_account_id:
        # A synced template lives in one WhatsApp Business Account: Meta
        # refuses it from any other (132001), so it is sent from its own.
        if account is None:
            request.provider_account = account = template.provider_account
        elif account.pk != template.provider_account_id:
            raise SendError(
                "template_account",
                f"Template {template.name!r} belongs to provider account {template.provider_account.label!r}; "
                "send it through that account.",
            )
    accounts = eligible_accounts(organization, request.channel)
    if request.channel == Channel.SMS and request.media and account is None:
        accounts = [a for a in accounts if a.provider in MMS_PROVIDERS]
        if not accounts:
            raise SendError("media_unsupported", "No active provider account of this organization can send MMS.")
    if account is not None:
        if account.organization_id != organization.pk or not account.is_active:
            raise SendError("provider_account", "That provider account is not active in this organization.")
        if account.channel != request.channel:
            # Dispatch sends through the chosen account as it is: an SMS must not go out on WhatsApp.
            raise SendError(
                "provider_account", f"That provider account sends {account.channel}, not {request.channel}."
            )
    elif not accounts:
        raise SendError("no_provider_account", f"No active {request.channel} provider account: connect one first.")
    return accounts


def _is_whatsapp_template(template: Template | None) -> bool:
    return template is not None and template.kind == Template.Kind.WHATSAPP


def check_recipients(request: SendRequest, *, bulk: bool) -> tuple[list[tuple[Recipient, str, str]], list[Refusal]]:
    """Check each recipient: return (recipient, E.164 number, body) of the good ones and the refusals of the rest.

    Refused: an invalid number, a number twice in a bulk send, a missing or
    invalid template parameter, a text over MAX_BODY_CHARS. No query, no write.
    A single send's WhatsApp template that does not fit raises its SendError.
    """
    template = request.template
    wa_template = _is_whatsapp_template(template)
    refused: list[Refusal] = []
    prepared: list[tuple[Recipient, str, str]] = []
    seen: set[str] = set()
    for index, recipient in enumerate(request.recipients):
        try:
            phone = to_e164(recipient.to)
        except InvalidNumber as exc:
            refused.append(Refusal(index, exc.number, "invalid_number", str(exc), {"reason": exc.reason}))
            continue
        if bulk and phone in seen:
            refused.append(Refusal(index, phone, "duplicate_recipient", f"{phone} appears twice in this request."))
            continue
        seen.add(phone)
        if wa_template:
            try:
                _check_whatsapp_template(template, recipient.params)
            except SendError as exc:
                if not bulk:
                    raise
                refused.append(Refusal(index, phone, exc.code, exc.message))
                continue
        try:
            body = (
                request.body if wa_template or template is None else _render_for(phone, template.body, recipient.params)
            )
            if len(body) > MAX_BODY_CHARS:
                raise _too_long(len(body))
        except SendError as exc:
            refused.append(Refusal(index, phone, exc.code, exc.message, exc.details))
            continue
        prepared.append((recipient, phone, body))
    return prepared, refused


def _render_for(phone: str, template_body: str, params: dict[str, Any]) -> str:
    """`render`, its failures as the SendError of a refusal for `phone`."""
    try:
        return render(template_body, params)
    except ParameterError as exc:
        raise SendError("invalid_parameter", str(exc), {"parameter": exc.name}) from None
    except KeyError as exc:
        name = exc.args[0]
        raise SendError(
            "missing_parameter", f"Template parameter {name!r} is missing for {phone}.", {"parameter": name}
        ) from None


def refusal_error(refusal: Refusal) -> SendError:
    """A single send's refusal, as the SendError that refuses its request."""
    return SendError(refusal.code, refusal.message, {"to": refusal.to, **refusal.details})


def check_rejections(
    organization: Organization,
    request: SendRequest,
    prepared: list[tuple[Recipient, str, str]],
    accounts: list[ProviderAccount],
    now: datetime,
) -> list[Row]:
    """Decide the status each good recipient is written with: one `Row` each, in order.

    Rejected (a row with its code, as the provider would): the organization is
    paused or restricted, the recipient opted out, or a WhatsApp message falls
    outside the customer's 24-hour window. Two reads for the whole request, no write.
    """
    template = request.template
    wa_template = _is_whatsapp_template(template)
    phones = [phone for _, phone, _ in prepared]
    opted_out = set(
        OptOut.objects.filter(organization=organization, channel=request.channel, phone__in=phones).values_list(
            "phone", flat=True
        )
    )
    # An own (portal) WhatsApp template is plain text to Meta; the sandbox plays
    # Meta and takes it as an approved template, so it needs no open window there.
    own_wa_template = template is not None and not wa_template and request.channel == Channel.WHATSAPP
    needs_window = request.channel == Channel.WHATSAPP and not wa_template
    if own_wa_template:
        routed = [request.provider_account] if request.provider_account is not None else accounts
        needs_window = not (routed and all(a.provider == "sandbox" for a in routed))
    open_windows: set[str] = set()
    if needs_window:
        open_windows = set(
            ConversationWindow.objects.filter(
                organization=organization, phone__in=phones, last_inbound_at__gte=now - WHATSAPP_WINDOW
            ).values_list("phone", flat=True)
        )

    def window_closed(phone: str) -> str:
        if own_wa_template:
            return (
                f"{phone} has not written in the last 24 hours, and {template.name!r} is a template of your own, "
                "not one approved by Meta: outside that window WhatsApp only takes a template approved by "
                "Meta (sync them on the Templates page)."
            )
        return (
            f"{phone} has not written in the last 24 hours: free-form WhatsApp messages are only allowed "
            "inside that window. Use an approved template."
        )

    initial = Status.SCHEDULED if request.scheduled_at and request.scheduled_at > now else Status.QUEUED
    hold = sending_hold(organization) if organization.is_paused else None
    rows: list[Row] = []
    for recipient, phone, body in prepared:
        info = sms.analyse(body) if request.channel == Channel.SMS else None
        status, code, text = initial, "", ""
        if hold is not None:
            status, (code, text) = Status.REJECTED, hold
        elif phone in opted_out:
            status, code, text = Status.REJECTED, "opted_out", f"{phone} has opted out of {request.channel} messages."
        elif needs_window and phone not in open_windows:
            status, code, text = Status.REJECTED, "whatsapp_window_closed", window_closed(phone)
        metadata = {**request.metadata, **recipient.metadata} if recipient.metadata else request.metadata
        params = recipient.params if template is not None else {}
        rows.append((phone, body, params, metadata, status, code, text, info))
    return rows


def accept_messages(
    organization: Organization,
    request: SendRequest,
    *,
    actor: Actor = SYSTEM,
    bulk: bool = False,
    batch: Batch | None = None,
) -> AcceptResult:
    """Check and store messages, then queue them for dispatch after commit.

    Invalid numbers and missing template parameters are refused (no row; a
    single send's refusal refuses the request); opted-out recipients, a closed
    WhatsApp window and a paused organization give `rejected` rows with their
    code, as the provider would.
    """
    accounts = check_request(organization, request)
    prepared, refused = check_recipients(request, bulk=bulk)
    if not bulk and refused:
        raise refusal_error(refused[0])
    now = timezone.now()
    rows = check_rejections(organization, request, prepared, accounts, now)
    return do_accept_messages(organization, request, rows, refused, now=now, actor=actor, bulk=bulk, batch=batch)


def do_accept_messages(
    organization: Organization,
    request: SendRequest,
    rows: list[Row],
    refused: list[Refusal],
    *,
    now: datetime,
    actor: Actor = SYSTEM,
    bulk: bool = False,
    batch: Batch | None = None,
) -> AcceptResult:
    """Write what the checks decided, in one transaction: the batch, the messages, the events of the rejected.

    A rejected row gets its event and `message_status_changed` (so its customer
    callback), as a rejection at dispatch does: one bulk insert for them all.
    """
    template = request.template
    sender = request.sender or (request.provider_account.default_sender if request.provider_account else "")

    def message(row) -> Message:
        phone, body, params, metadata, status, code, text, info = row
        return Message(
            organization=organization,
            channel=request.channel,
            to=phone,
            sender=sender,
            body=body,
            template=template,
            template_params=params,
            media=request.media,
            status=status,
            requested_account=request.provider_account,
            encoding=info.encoding if info else "",
            segments=info.segments if info else 1,
            error_code=code,
            error_message=text,
            metadata=dict(metadata),
            callback_url=request.callback_url,
            scheduled_at=request.scheduled_at if status == Status.SCHEDULED else None,
            created_at=now,
            queued_at=now if status == Status.QUEUED else None,
            failed_at=now if status == Status.REJECTED else None,
        )

    copy = bulk and connection.vendor == "postgresql" and len(rows) > 1
    messages: list[Message] = [] if copy else [message(row) for row in rows]
    rejected = sum(1 for row in rows if row[4] == Status.REJECTED)
    with transaction.atomic():
        refused_rows = [_refusal_row(r, request.row_offset) for r in refused]
        if bulk and batch is not None:
            # A portal upload accepted by its task: the batch exists since the click.
            batch.total, batch.accepted, batch.refused = len(request.recipients), len(rows), len(refused)
            batch.refused_rows, batch.state, batch.pending = refused_rows, Batch.State.ACCEPTED, None
            batch.save(update_fields=["total", "accepted", "refused", "refused_rows", "state", "pending"])
        elif bulk:
            batch = Batch.objects.create(
                organization=organization,
                name=request.batch_name,
                channel=request.channel,
                total=len(request.recipients),
                accepted=len(rows),
                refused=len(refused),
                refused_rows=refused_rows,
                created_by=actor.user,
                api_key=actor.api_key,
            )
        for item in messages:
            item.batch = batch
        if copy:
            # 10,000 model objects and Django's per-field preparation cost seconds
            # (BENCHMARKS.md, intake): COPY tuples instead, then one indexed read of the ids.
            _copy_messages(rows, message(rows[0]), batch)
            written = list(Message.objects.filter(batch=batch).order_by("pk").values_list("pk", "status"))
            ids = [pk for pk, _ in written]  # in the recipients' order: one COPY takes its ids in row order
            queued = [pk for pk, status in written if status == Status.QUEUED]
        else:
            # SQLite has Django split it by its 999-parameter limit.
            Message.objects.bulk_create(messages)
            ids = [m.pk for m in messages]
            queued = [m.pk for m in messages if m.status == Status.QUEUED]
        if rejected:
            targets = messages or ids
            pairs = zip(targets, rows, strict=True)
            _record_rejections([(target, row) for target, row in pairs if row[4] == Status.REJECTED], now, actor)
        if queued:
            from messaging.dispatch import publish_dispatch

            transaction.on_commit(lambda: publish_dispatch(queued))
    return AcceptResult(messages=messages, refused=refused, batch=batch, accepted=len(rows), rejected=rejected, ids=ids)


def _record_rejections(rejected: list[tuple[Message | int, Row]], now: datetime, actor: Actor) -> None:
    """The events of rows written as rejected (one insert) and their status signals after commit."""
    source = _source(actor)
    events = [
        MessageEvent(
            message_id=target if isinstance(target, int) else target.pk,
            status=Status.REJECTED,
            raw_status="rejected",
            source=source,
            applied=True,
            received_at=now,
            error_code=row[5],
            error_message=row[6][:500],
        )
        for target, row in rejected
    ]
    insert_rows(events)
    signal_on_commit(
        [(target, "", Status.REJECTED, event) for (target, _), event in zip(rejected, events, strict=True)]
    )


def _source(actor: Actor) -> str:
    """An event's source for a change a person or a key asked for: `admin` (a signed-in user) or `api`."""
    return "admin" if actor.user else "api"


# The columns that differ from one recipient to the next in a bulk send; every other
# column takes the same value for the whole request (from a prototype message).
_ROW_COLUMNS = (
    "public_id",
    "to",
    "body",
    "template_params",
    "metadata",
    "status",
    "encoding",
    "segments",
    "error_code",
    "error_message",
    "scheduled_at",
    "queued_at",
    "failed_at",
)


def _copy_messages(rows: list[tuple], prototype: Message, batch: Batch) -> None:
    """Write a bulk send's messages with one COPY (PostgreSQL, psycopg 3)."""
    import uuid

    prototype.batch = batch
    fields = [f for f in Message._meta.concrete_fields if not f.primary_key]
    constant = {f.attname: f.get_db_prep_save(f.pre_save(prototype, add=True), connection) for f in fields}
    position = {f.attname: index for index, f in enumerate(fields)}
    json_field = Message._meta.get_field("template_params")

    def as_json(value):
        return connection.ops.adapt_json_value(value, json_field.encoder)

    base = [constant[f.attname] for f in fields]
    slots = [position[name] for name in _ROW_COLUMNS]
    scheduled_at, queued_at, failed_at = prototype.scheduled_at, prototype.created_at, prototype.created_at
    empty = as_json({})  # most recipients have no parameters or metadata of their own: adapt it once
    sql = "COPY {} ({}) FROM STDIN".format(
        connection.ops.quote_name(Message._meta.db_table),
        ", ".join(connection.ops.quote_name(f.column) for f in fields),
    )
    with connection.cursor() as cursor, cursor.copy(sql) as out:
        for phone, body, params, metadata, status, code, text, info in rows:
            row = base.copy()
            values = (
                uuid.uuid4(),
                phone,
                body,
                as_json(params) if params else empty,
                as_json(metadata) if metadata else empty,
                status,
                info.encoding if info else "",
                info.segments if info else 1,
                code,
                text,
                scheduled_at if status == Status.SCHEDULED else None,
                queued_at if status == Status.QUEUED else None,
                failed_at if status == Status.REJECTED else None,
            )
            for slot, value in zip(slots, values, strict=True):
                row[slot] = value
            out.write_row(row)


def _refusal_row(refusal: Refusal, row_offset: int | None) -> dict[str, Any]:
    row = {"index": refusal.index, "to": refusal.to, "code": refusal.code, "message": refusal.message}
    if row_offset is not None:
        row["row"] = refusal.index + row_offset
    return row


def start_portal_batch(
    organization: Organization, request: SendRequest, *, actor: Actor = SYSTEM, row_offset: int = 2
) -> Batch:
    """Create the batch of a portal upload at once and accept its rows in a task (`accept_pending_batch`).

    The click answers with the batch's page while 10,000 rows are validated and
    written; the rows wait in `Batch.pending` (the row is durable, the task a hint).
    """
    pending = {
        "channel": request.channel,
        "body": request.body,
        "template": request.template.pk if request.template else None,
        "provider_account": request.provider_account.pk if request.provider_account else None,
        "scheduled_at": request.scheduled_at.isoformat() if request.scheduled_at else None,
        "row_offset": row_offset,
        "recipients": [[r.to, r.params] for r in request.recipients],
    }
    with transaction.atomic():
        batch = Batch.objects.create(
            organization=organization,
            name=request.batch_name,
            channel=request.channel,
            total=len(request.recipients),
            state=Batch.State.ACCEPTING,
            pending=pending,
            created_by=actor.user,
            api_key=actor.api_key,
        )
        from messaging import tasks

        transaction.on_commit(lambda: _publish_accept(tasks.accept_batch, batch.pk))
    return batch


def _publish_accept(task, batch_id: int) -> None:
    try:
        task.delay(batch_id)
    except Exception:
        log.exception("could not publish the acceptance of batch %s; the sweeper will", batch_id)


def accept_pending_batch(batch_id: int) -> Batch | None:
    """Validate and write the rows of a portal upload (the task of `start_portal_batch`); safe to run twice."""
    with transaction.atomic():
        batch = (
            Batch.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("organization", "created_by")
            .filter(pk=batch_id, state=Batch.State.ACCEPTING)
            .first()
        )
        if batch is None or not batch.pending:
            # Accepted already (a second run), or another worker holds it.
            return batch or Batch.objects.filter(pk=batch_id).first()
        pending = batch.pending
        organization = batch.organization
        template = Template.objects.filter(organization=organization, pk=pending["template"]).first()
        account = ProviderAccount.objects.filter(organization=organization, pk=pending["provider_account"]).first()
        request = SendRequest(
            channel=pending["channel"],
            recipients=[Recipient(to=to, params=params or {}) for to, params in pending["recipients"]],
            body=pending["body"],
            template=template,
            provider_account=account,
            scheduled_at=datetime.fromisoformat(pending["scheduled_at"]) if pending["scheduled_at"] else None,
            batch_name=batch.name,
            row_offset=pending.get("row_offset"),
        )
        if (pending["template"] and template is None) or (pending["provider_account"] and account is None):
            batch.state, batch.error, batch.pending = Batch.State.FAILED, "The template or account is gone.", None
            batch.save(update_fields=["state", "error", "pending"])
            return batch
        try:
            with transaction.atomic():
                accept_messages(organization, request, actor=Actor(user=batch.created_by), bulk=True, batch=batch)
        except SendError as exc:
            batch.state, batch.error, batch.pending = Batch.State.FAILED, exc.message[:500], None
            batch.save(update_fields=["state", "error", "pending"])
    return batch


def sweep_pending_batches(older_than_seconds: int = 60) -> int:
    """Publish the acceptance of portal uploads still waiting (a lost publish); return how many."""
    from messaging import tasks

    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    ids = list(
        Batch.objects.filter(state=Batch.State.ACCEPTING, created_at__lt=cutoff).values_list("pk", flat=True)[:100]
    )
    for pk in ids:
        _publish_accept(tasks.accept_batch, pk)
    return len(ids)


def cancel_message(message: Message, *, actor: Actor = SYSTEM) -> bool:
    """Cancel a scheduled or queued message; False (and no event) if it is past that."""
    with transaction.atomic():
        # Checked under the row lock: a refused cancel is not part of the message's history,
        # and a worker's claim (queued -> sending) cannot slip in between.
        current = Message.objects.select_for_update().filter(pk=message.pk).values_list("status", flat=True).first()
        if current not in (Status.SCHEDULED, Status.QUEUED):
            message.status = current or message.status
            return False
        by = actor.user.email if actor.user else (f"key {actor.api_key.prefix}" if actor.api_key else "system")
        event = apply_status(message, Status.CANCELED, source=_source(actor), detail={"canceled_by": by})
    return bool(event and event.applied)


# What an operator may send again: a final failure a provider or dispatch gave (not our own rejection).
RETRYABLE = (Status.FAILED, Status.UNDELIVERED)


def retry_messages(message_ids: list[int], *, actor: Actor = SYSTEM) -> list[int]:
    """Send failed or undelivered messages again, each as a new attempt through the normal pipeline.

    Returns the ids moved back to `queued`. Only rows still retryable move,
    checked under their row lock: a row another transaction holds (a worker's
    claim, a status report) is skipped rather than waited for, and a row that
    moved on since the operator's page was loaded (retried by someone else and
    claimed, sent, delivered) is left alone, so a retry never sends again what
    a worker holds or a provider delivered.
    """
    with transaction.atomic():
        ids = list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(pk__in=message_ids, status__in=RETRYABLE)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        apply_statuses([StatusChange(pk, Status.QUEUED, "admin", raw_status="retry", restart=True) for pk in ids])
        if ids:
            from messaging.dispatch import publish_dispatch

            transaction.on_commit(lambda: publish_dispatch(ids))
    return ids


def retry_message(message: Message, *, actor: Actor = SYSTEM) -> bool:
    """`retry_messages` of one; the caller's object is brought in step with the row (its status says why not)."""
    moved = bool(retry_messages([message.pk], actor=actor))
    message.refresh_from_db(fields=[*_RETRY_FIELDS])
    return moved


_RETRY_FIELDS = ("status", "error_code", "error_message", "queued_at", "lease_expires_at", "next_attempt_at")


def add_opt_out(organization: Organization, channel: str, phone: str, *, source: str = "api") -> OptOut:
    optout, _ = OptOut.objects.get_or_create(
        organization=organization, channel=channel, phone=to_e164(phone), defaults={"source": source}
    )
    return optout


@transaction.atomic
def remove_opt_out(organization: Organization, channel: str, phone: str, *, actor: Actor = SYSTEM) -> int:
    """Let a number receive a channel's messages again; leave an access-log row if there was an opt-out."""
    try:
        phone = to_e164(phone)  # rows are stored in E.164 (add_opt_out)
    except InvalidNumber:
        pass
    deleted, _ = OptOut.objects.filter(organization=organization, channel=channel, phone=phone).delete()
    if deleted:
        _log_change(organization, actor, "opt_out_removed", channel=channel, phone=phone)
    return deleted


# --- own templates (synced WhatsApp ones change in Meta's console and come back by the sync) -----
@transaction.atomic
def save_template(organization: Organization, template: Template, *, actor: Actor = SYSTEM) -> Template:
    """Create or change one of the organization's own templates; leave an access-log row."""
    created = template._state.adding
    if not created and template.kind != Template.Kind.OWN:
        raise ValueError("Synced WhatsApp templates are changed in Meta's console, not here.")
    template.organization, template.kind = organization, Template.Kind.OWN
    template.save()
    _log_change(
        organization, actor, "template_created" if created else "template_updated", **_template_detail(template)
    )
    return template


@transaction.atomic
def delete_template(template: Template, *, actor: Actor = SYSTEM) -> None:
    """Delete an own template (messages sent with it keep their text); leave an access-log row."""
    if template.kind != Template.Kind.OWN:
        raise ValueError("Synced WhatsApp templates are deleted in Meta's console, not here.")
    _log_change(template.organization, actor, "template_deleted", **_template_detail(template))
    template.delete()


def _template_detail(template: Template) -> dict[str, str]:
    return {
        "template": str(template.public_id),
        "name": template.name,
        "language": template.language,
        "channel": template.channel,
    }


def _log_change(organization: Organization, actor: Actor, change: str, **detail) -> None:
    record_access(AccessLog.Action.ORGANIZATION_CHANGED, actor, organization=organization, change=change, **detail)


def batch_progress(batch: Batch) -> dict[str, Any]:
    """Counts by status and the share of messages that reached a final state."""
    from django.db.models import Count

    counts = {
        row["status"]: row["n"]
        for row in Message.objects.filter(batch=batch).values("status").annotate(n=Count("id")).order_by()
    }
    total = sum(counts.values())
    pending = sum(counts.get(s, 0) for s in (Status.SCHEDULED, Status.QUEUED, Status.SENDING))
    done = total - pending
    return {
        "counts": counts,
        "total": total,
        "done": done,
        "percent": 100.0 if total == 0 else round(100.0 * done / total, 1),
    }


# --- Paused and restricted organizations (issue 17 item 8) ----------------------------------------
#
# A pause or a restriction of processing stops sending but destroys nothing:
# messages already scheduled or queued wait (status unchanged) and go when
# sending resumes, unless the owner chose to cancel them. New messages are
# refused while it lasts (`sending_hold` says why). Dispatch applies the rule
# with `held_message_ids` and `hold_messages`; the sweeper leaves held rows
# alone with `exclude_held`.

PAUSED_TEXT = "Sending is paused for this organization."
RESTRICTED_TEXT = "Processing is restricted for this organization: nothing is sent until an owner lifts it."


def sending_hold(organization: Organization) -> tuple[str, str] | None:
    """Return (error code, text) of why the organization may not send now, or None if it may."""
    if organization.processing_restricted_at is not None:
        return "processing_restricted", RESTRICTED_TEXT
    if organization.paused_at is not None:
        return "organization_paused", PAUSED_TEXT
    return None


def exclude_held(messages):
    """Leave out the messages of paused or restricted organizations (what the sweeper must not republish)."""
    return messages.filter(organization__paused_at__isnull=True, organization__processing_restricted_at__isnull=True)


def held_message_ids(messages: list[Message]) -> set[int]:
    """The claimed messages that must wait: their organization is paused or restricted (deleting ones excepted).

    An organization being deleted is the one case where waiting messages are
    canceled (`organization_deleted`), not held.
    """
    return {m.pk for m in messages if m.organization.is_paused and m.organization.deletion_requested_at is None}


def hold_messages(message_ids: list[int]) -> int:
    """Give claimed (`sending`) messages back to the queue untouched: no attempt counted, no event, no status change.

    For dispatch when it claimed messages of a paused or restricted
    organization: they wait for `release_held_messages`.
    """
    if not message_ids:
        return 0
    from django.db.models import F

    return Message.objects.filter(pk__in=message_ids, status=Status.SENDING).update(
        status=Status.QUEUED,
        lease_expires_at=None,
        next_attempt_at=None,
        attempts=F("attempts") - 1,
        updated_at=timezone.now(),
    )


def release_held_messages(organization: Organization) -> int:
    """Publish the organization's queued messages again (sending resumed); scheduled ones wait for their time."""
    from messaging.dispatch import publish_dispatch

    ids = list(
        Message.objects.filter(organization=organization, status=Status.QUEUED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if ids:
        transaction.on_commit(lambda: publish_dispatch(ids))
    return len(ids)


# Meta's own sample template, as a new WhatsApp test number has it (approved, en_US, no parameters).
HELLO_WORLD_BODY = (
    "Welcome and congratulations!! This message demonstrates your ability to send a WhatsApp message "
    "notification from the Cloud API, hosted by Meta. Thank you for taking the time to test with us."
)
HELLO_WORLD_COMPONENTS = [
    {"type": "HEADER", "format": "TEXT", "text": "Hello World"},
    {"type": "BODY", "text": HELLO_WORLD_BODY},
    {"type": "FOOTER", "text": "WhatsApp Business Platform sample message"},
]


def add_sandbox_hello_world(account: ProviderAccount) -> tuple[Template, bool]:
    """Give a sandbox WhatsApp account Meta's approved `hello_world` template (once); return it and if it is new."""
    if account.provider != "sandbox" or account.channel != Channel.WHATSAPP:
        raise ValueError("hello_world is given to sandbox WhatsApp accounts only.")
    return Template.objects.get_or_create(
        organization_id=account.organization_id,
        provider_account=account,
        kind=Template.Kind.WHATSAPP,
        name="hello_world",
        language="en_US",
        defaults={
            "channel": Channel.WHATSAPP,
            "body": HELLO_WORLD_BODY,
            "category": "UTILITY",
            "components": HELLO_WORLD_COMPONENTS,
            "approval_status": "APPROVED",
            "external_id": f"sandbox-hello-world-{account.public_id.hex[:12]}",
            "synced_at": timezone.now(),
        },
    )


def mark_conversation_read(organization: Organization, phone: str, channel: str = "") -> int:
    """Mark the unread messages from `phone` read (opening its conversation does); return how many."""
    from messaging.models import InboundMessage

    qs = InboundMessage.objects.filter(organization=organization, from_number=phone, read_at__isnull=True)
    if channel:
        qs = qs.filter(channel=channel)
    return qs.update(read_at=timezone.now())
