"""The data exports: an organization's data as a zip of JSON or CSV files, and a person's own data.

Secrets never go in: no provider credentials nor webhook secrets (only the
masked hints), no callback signing secrets, no API key hashes. Messages are
the ones within retention, each with its events and delivery attempts,
written as a stream so a large organization does not fill memory.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import zipfile
from collections.abc import Iterable, Iterator

from django.core.files import File
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Prefetch
from django.utils import timezone

from accounts.models import AccessLog, ApiKey, Membership, User
from messaging.models import (
    Batch,
    DailyStats,
    DeliveryAttempt,
    InboundMessage,
    MediaFile,
    Message,
    MessageEvent,
    OptOut,
    Template,
)
from providers.models import ProviderAccount
from retention import purge
from retention.models import DataExport, export_upload_to
from webhooks.models import CallbackEndpoint

# The files of an export, in the order they are written.
FILES = [
    "organization.json",
    "members.json",
    "templates.json",
    "messages.json",
    "inbound_messages.json",
    "batches.json",
    "opt_outs.json",
    "media_files.json",
    "callback_endpoints.json",
    "provider_accounts.json",
    "api_keys.json",
    "daily_stats.json",
    "access_log.json",
]
CHUNK = 1_000


def _dump(value) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False)


def _write_list(archive: zipfile.ZipFile, name: str, items: Iterable[dict]) -> None:
    """Write a JSON array one item at a time."""
    with archive.open(name, "w") as handle:
        handle.write(b"[")
        for index, item in enumerate(items):
            handle.write((",\n" if index else "\n").encode())
            handle.write(_dump(item).encode("utf-8"))
        handle.write(b"\n]\n")


def _write_object(archive: zipfile.ZipFile, name: str, value: dict) -> None:
    archive.writestr(name, json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2) + "\n")


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str:
    """One CSV cell: nested values as JSON, dates ISO 8601, formula-like text neutralised with a leading quote."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        text = _dump(value)
    elif hasattr(value, "isoformat"):
        text = value.isoformat()
    else:
        text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def write_csv_rows(handle, rows: Iterable[dict]) -> int:
    """Write dicts as CSV with a header from the first row's keys (text handle); returns the rows written."""
    writer = None
    count = 0
    for row in rows:
        if writer is None:
            writer = csv.writer(handle)
            writer.writerow(list(row))
        writer.writerow([csv_cell(v) for v in row.values()])
        count += 1
    return count


def _write_csv(archive: zipfile.ZipFile, name: str, items: Iterable[dict]) -> None:
    """Write one table as a CSV file of the zip, one row at a time (UTF-8 with a BOM, for spreadsheets)."""
    with archive.open(name, "w") as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as handle:
        write_csv_rows(handle, items)


def _values(obj, names: str) -> dict:
    """Return obj's attributes named in `names` (space separated); "key=attribute" writes one under another key."""
    row = {}
    for name in names.split():
        key, _, attribute = name.partition("=")
        row[key] = getattr(obj, attribute or key)
    return row


def _rows(queryset, names: str) -> Iterator[dict]:
    """Yield `_values(row, names)` for each row of the queryset, read in chunks."""
    for row in queryset.iterator(chunk_size=CHUNK):
        yield _values(row, names)


def _oldest_first(model, organization):
    return model.objects.filter(organization=organization).order_by("created_at", "pk")


def _within_retention(rows, organization):
    """Keep the rows the purge has not reached yet (what the organization's retention still holds)."""
    cutoff = purge.cutoff_for(organization)
    return rows if cutoff is None else rows.filter(created_at__gte=cutoff)


def organization_data(organization) -> dict:
    return _values(
        organization,
        "id=public_id name created_at is_active retention_days paused_at deletion_requested_at deletion_scheduled_for",
    )


def members(organization) -> Iterator[dict]:
    for m in Membership.objects.filter(organization=organization).select_related("user").order_by("created_at"):
        yield {
            **_values(m.user, "email name phone"),
            "role": m.role,
            "member_since": m.created_at,
            **_values(m.user, "date_joined last_login privacy_policy_version privacy_accepted_at confirmed_adult_at"),
        }


def templates(organization) -> Iterator[dict]:
    return _rows(
        _oldest_first(Template, organization),
        "id=public_id kind channel name language body category components approval_status synced_at "
        "created_at updated_at",
    )


def messages(organization) -> Iterator[dict]:
    rows = (
        Message.objects.filter(organization=organization)
        .select_related("template", "batch", "provider_account")
        .prefetch_related(
            Prefetch("events", queryset=MessageEvent.objects.order_by("received_at", "id")),
            Prefetch("delivery_attempts", queryset=DeliveryAttempt.objects.order_by("started_at", "id")),
        )
        .order_by("created_at", "pk")
    )
    for m in _within_retention(rows, organization).iterator(chunk_size=CHUNK):
        yield {
            **_values(m, "id=public_id channel to sender body"),
            "template": m.template.name if m.template else None,
            **_values(m, "template_params media status provider"),
            "provider_account": m.provider_account.label if m.provider_account else None,
            **_values(m, "provider_message_id encoding segments price error_code error_message"),
            "batch": str(m.batch.public_id) if m.batch else None,
            **_values(
                m,
                "metadata callback_url scheduled_at attempts created_at "
                "queued_at sent_at delivered_at read_at failed_at canceled_at",
            ),
            "events": [
                _values(
                    e, "status raw_status source applied provider_timestamp received_at error_code error_message detail"
                )
                for e in m.events.all()
            ],
            "delivery_attempts": [
                _values(a, "started_at latency_ms outcome http_status error_code error_message")
                for a in m.delivery_attempts.all()
            ],
        }


def inbound_messages(organization) -> Iterator[dict]:
    rows = InboundMessage.objects.filter(organization=organization).order_by("created_at", "pk")
    return _rows(
        _within_retention(rows, organization),
        "id=public_id channel from=from_number to=to_number body media profile_name provider_message_id received_at",
    )


def batches(organization) -> Iterator[dict]:
    return _rows(_oldest_first(Batch, organization), "id=public_id name channel total accepted refused created_at")


def opt_outs(organization) -> Iterator[dict]:
    return _rows(_oldest_first(OptOut, organization), "channel phone source created_at")


def media_files(organization) -> Iterator[dict]:
    return _rows(
        _oldest_first(MediaFile, organization), "id=public_id filename kind content_type size sha256 created_at"
    )


def callback_endpoints(organization) -> Iterator[dict]:
    # Never the signing secret.
    return _rows(
        _oldest_first(CallbackEndpoint, organization), "id=public_id url events is_active description created_at"
    )


def provider_accounts(organization) -> Iterator[dict]:
    # Never the credentials, the webhook secret or the provider settings: only the masked hints.
    return _rows(
        _oldest_first(ProviderAccount, organization),
        "id=public_id provider label channel sender=default_sender credentials_hint priority allowed_prefixes "
        "is_active created_at",
    )


def api_keys(organization) -> Iterator[dict]:
    # Names and prefixes only: the secret was never stored and its hash stays here.
    for k in ApiKey.objects.filter(organization=organization).select_related("created_by").order_by("created_at"):
        yield {
            **_values(k, "id=public_id name prefix role"),
            "created_by": k.created_by.email if k.created_by else None,
            **_values(k, "created_at last_used_at revoked_at"),
        }


def daily_stats(organization) -> Iterator[dict]:
    rows = DailyStats.objects.filter(organization=organization).order_by("day", "channel", "provider", "status")
    return _rows(rows, "day channel provider status count segments")


def access_log(organization) -> Iterator[dict]:
    rows = AccessLog.objects.filter(organization=organization).order_by("at", "pk")
    return _rows(rows, "at action actor=actor_label ip user_agent detail")


def write_zip(export: DataExport) -> tuple[str, int]:
    """Write the export's zip to storage; return its stored name and size."""
    organization = export.organization
    lists = {
        "members.json": members,
        "templates.json": templates,
        "messages.json": messages,
        "inbound_messages.json": inbound_messages,
        "batches.json": batches,
        "opt_outs.json": opt_outs,
        "media_files.json": media_files,
        "callback_endpoints.json": callback_endpoints,
        "provider_accounts.json": provider_accounts,
        "api_keys.json": api_keys,
        "daily_stats.json": daily_stats,
        "access_log.json": access_log,
    }
    with tempfile.TemporaryFile() as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            _write_object(
                archive,
                "organization.json",
                {
                    **organization_data(organization),
                    "exported_at": timezone.now(),
                    "export_id": str(export.public_id),
                    "files": FILES,
                },
            )
            for name in FILES[1:]:
                if export.format == DataExport.Format.CSV:
                    _write_csv(archive, name.replace(".json", ".csv"), lists[name](organization))
                else:
                    _write_list(archive, name, lists[name](organization))
        size = tmp.tell()
        tmp.seek(0)
        from django.core.files.storage import default_storage

        name = default_storage.save(export_upload_to(export, ""), File(tmp))
    return name, size


# --- A person's own data (any member; issue 17 item 8) ----------------------------------------------

# Access-log actions that are the person's sessions; every other row they caused is one of their actions.
SESSION_ACTIONS = (AccessLog.Action.LOGIN, AccessLog.Action.LOGIN_FAILED, AccessLog.Action.LOGOUT)


def _personal_log(user: User, *, sessions: bool) -> Iterator[dict]:
    rows = AccessLog.objects.filter(user=user).select_related("organization")
    rows = rows.filter(action__in=SESSION_ACTIONS) if sessions else rows.exclude(action__in=SESSION_ACTIONS)
    for r in rows.order_by("at", "pk").iterator(CHUNK):
        yield {
            **_values(r, "at action"),
            "organization": r.organization.name if r.organization else None,
            **_values(r, "ip user_agent detail"),
        }


def personal_tables(user: User) -> dict[str, Iterable[dict]]:
    """The person's data by table: profile, memberships, access log (sessions), actions, keys and batches they made."""
    profile = {
        **_values(
            user,
            "email name phone date_joined "
            "last_login privacy_policy_version privacy_accepted_at confirmed_adult_at consent_withdrawn_at",
        ),
    }
    memberships = (
        {"organization": m.organization.name, "role": m.role, "member_since": m.created_at}
        for m in Membership.objects.filter(user=user).select_related("organization").order_by("created_at")
    )
    keys = (
        {
            "organization": k.organization.name,
            **_values(k, "name prefix role created_at last_used_at revoked_at"),
        }
        for k in ApiKey.objects.filter(created_by=user).select_related("organization").order_by("created_at")
    )
    batches = (
        {
            "organization": b.organization.name,
            **_values(b, "id=public_id name channel total accepted refused created_at"),
        }
        for b in Batch.objects.filter(created_by=user).select_related("organization").order_by("created_at")
    )
    return {
        "profile": [profile],
        "memberships": memberships,
        "access_log": _personal_log(user, sessions=True),
        "actions": _personal_log(user, sessions=False),
        "api_keys_created": keys,
        "batches_sent": batches,
    }


def personal_json(user: User) -> bytes:
    """The person's data as one JSON document."""
    tables = personal_tables(user)
    document = {"exported_at": timezone.now(), "profile": list(tables.pop("profile"))[0]}
    document.update({name: list(rows) for name, rows in tables.items()})
    return (json.dumps(document, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def personal_csv_zip(user: User) -> bytes:
    """The person's data as a zip of CSV files, one per table."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, rows in personal_tables(user).items():
            _write_csv(archive, f"{name}.csv", rows)
    return buffer.getvalue()
