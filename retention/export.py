"""The data export: an organization's data as a zip of JSON files.

Secrets never go in: no provider credentials nor webhook secrets (only the
masked hints), no callback signing secrets, no API key hashes. Messages are
the ones within retention, each with its events and delivery attempts,
written as a stream so a large organization does not fill memory.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import Iterable, Iterator

from django.core.files import File
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Prefetch
from django.utils import timezone

from accounts.models import AccessLog, ApiKey, Membership
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


def organization_data(organization) -> dict:
    return {
        "id": str(organization.public_id),
        "name": organization.name,
        "created_at": organization.created_at,
        "is_active": organization.is_active,
        "retention_days": organization.retention_days,
        "paused_at": organization.paused_at,
        "deletion_requested_at": organization.deletion_requested_at,
        "deletion_scheduled_for": organization.deletion_scheduled_for,
    }


def members(organization) -> Iterator[dict]:
    for m in Membership.objects.filter(organization=organization).select_related("user").order_by("created_at"):
        u = m.user
        yield {
            "email": u.email,
            "name": u.name,
            "phone": u.phone,
            "role": m.role,
            "member_since": m.created_at,
            "date_joined": u.date_joined,
            "last_login": u.last_login,
            "privacy_policy_version": u.privacy_policy_version,
            "privacy_accepted_at": u.privacy_accepted_at,
            "confirmed_adult_at": u.confirmed_adult_at,
        }


def templates(organization) -> Iterator[dict]:
    for t in Template.objects.filter(organization=organization).order_by("created_at", "pk"):
        yield {
            "id": str(t.public_id),
            "kind": t.kind,
            "channel": t.channel,
            "name": t.name,
            "language": t.language,
            "body": t.body,
            "category": t.category,
            "components": t.components,
            "approval_status": t.approval_status,
            "synced_at": t.synced_at,
            "created_at": t.created_at,
            "updated_at": t.updated_at,
        }


def messages(organization) -> Iterator[dict]:
    cutoff = purge.cutoff_for(organization)
    rows = (
        Message.objects.filter(organization=organization)
        .select_related("template", "batch", "provider_account")
        .prefetch_related(
            Prefetch("events", queryset=MessageEvent.objects.order_by("received_at", "id")),
            Prefetch("delivery_attempts", queryset=DeliveryAttempt.objects.order_by("started_at", "id")),
        )
        .order_by("created_at", "pk")
    )
    if cutoff is not None:
        rows = rows.filter(created_at__gte=cutoff)
    for m in rows.iterator(chunk_size=CHUNK):
        yield {
            "id": str(m.public_id),
            "channel": m.channel,
            "to": m.to,
            "sender": m.sender,
            "body": m.body,
            "template": m.template.name if m.template else None,
            "template_params": m.template_params,
            "media": m.media,
            "status": m.status,
            "provider": m.provider,
            "provider_account": m.provider_account.label if m.provider_account else None,
            "provider_message_id": m.provider_message_id,
            "encoding": m.encoding,
            "segments": m.segments,
            "price": m.price,
            "error_code": m.error_code,
            "error_message": m.error_message,
            "batch": str(m.batch.public_id) if m.batch else None,
            "metadata": m.metadata,
            "callback_url": m.callback_url,
            "scheduled_at": m.scheduled_at,
            "attempts": m.attempts,
            "created_at": m.created_at,
            "queued_at": m.queued_at,
            "sent_at": m.sent_at,
            "delivered_at": m.delivered_at,
            "read_at": m.read_at,
            "failed_at": m.failed_at,
            "canceled_at": m.canceled_at,
            "events": [
                {
                    "status": e.status,
                    "raw_status": e.raw_status,
                    "source": e.source,
                    "applied": e.applied,
                    "provider_timestamp": e.provider_timestamp,
                    "received_at": e.received_at,
                    "error_code": e.error_code,
                    "error_message": e.error_message,
                    "detail": e.detail,
                }
                for e in m.events.all()
            ],
            "delivery_attempts": [
                {
                    "started_at": a.started_at,
                    "latency_ms": a.latency_ms,
                    "outcome": a.outcome,
                    "http_status": a.http_status,
                    "error_code": a.error_code,
                    "error_message": a.error_message,
                }
                for a in m.delivery_attempts.all()
            ],
        }


def inbound_messages(organization) -> Iterator[dict]:
    cutoff = purge.cutoff_for(organization)
    rows = InboundMessage.objects.filter(organization=organization).order_by("created_at", "pk")
    if cutoff is not None:
        rows = rows.filter(created_at__gte=cutoff)
    for m in rows.iterator(chunk_size=CHUNK):
        yield {
            "id": str(m.public_id),
            "channel": m.channel,
            "from": m.from_number,
            "to": m.to_number,
            "body": m.body,
            "media": m.media,
            "profile_name": m.profile_name,
            "provider_message_id": m.provider_message_id,
            "received_at": m.received_at,
        }


def batches(organization) -> Iterator[dict]:
    for b in Batch.objects.filter(organization=organization).order_by("created_at", "pk").iterator(CHUNK):
        yield {
            "id": str(b.public_id),
            "name": b.name,
            "channel": b.channel,
            "total": b.total,
            "accepted": b.accepted,
            "refused": b.refused,
            "created_at": b.created_at,
        }


def opt_outs(organization) -> Iterator[dict]:
    for o in OptOut.objects.filter(organization=organization).order_by("created_at", "pk").iterator(CHUNK):
        yield {"channel": o.channel, "phone": o.phone, "source": o.source, "created_at": o.created_at}


def media_files(organization) -> Iterator[dict]:
    for f in MediaFile.objects.filter(organization=organization).order_by("created_at", "pk").iterator(CHUNK):
        yield {
            "id": str(f.public_id),
            "filename": f.filename,
            "kind": f.kind,
            "content_type": f.content_type,
            "size": f.size,
            "sha256": f.sha256,
            "created_at": f.created_at,
        }


def callback_endpoints(organization) -> Iterator[dict]:
    # Never the signing secret.
    for e in CallbackEndpoint.objects.filter(organization=organization).order_by("created_at", "pk"):
        yield {
            "id": str(e.public_id),
            "url": e.url,
            "events": e.events,
            "is_active": e.is_active,
            "description": e.description,
            "created_at": e.created_at,
        }


def provider_accounts(organization) -> Iterator[dict]:
    # Never the credentials, the webhook secret or the provider settings: only the masked hints.
    for a in ProviderAccount.objects.filter(organization=organization).order_by("created_at", "pk"):
        yield {
            "id": str(a.public_id),
            "provider": a.provider,
            "label": a.label,
            "channel": a.channel,
            "sender": a.default_sender,
            "credentials_hint": a.credentials_hint,
            "priority": a.priority,
            "allowed_prefixes": a.allowed_prefixes,
            "is_active": a.is_active,
            "created_at": a.created_at,
        }


def api_keys(organization) -> Iterator[dict]:
    # Names and prefixes only: the secret was never stored and its hash stays here.
    for k in ApiKey.objects.filter(organization=organization).select_related("created_by").order_by("created_at"):
        yield {
            "id": str(k.public_id),
            "name": k.name,
            "prefix": k.prefix,
            "role": k.role,
            "created_by": k.created_by.email if k.created_by else None,
            "created_at": k.created_at,
            "last_used_at": k.last_used_at,
            "revoked_at": k.revoked_at,
        }


def daily_stats(organization) -> Iterator[dict]:
    rows = DailyStats.objects.filter(organization=organization).order_by("day", "channel", "provider", "status")
    for s in rows.iterator(CHUNK):
        yield {
            "day": s.day,
            "channel": s.channel,
            "provider": s.provider,
            "status": s.status,
            "count": s.count,
            "segments": s.segments,
        }


def access_log(organization) -> Iterator[dict]:
    for r in AccessLog.objects.filter(organization=organization).order_by("at", "pk").iterator(CHUNK):
        yield {
            "at": r.at,
            "action": r.action,
            "actor": r.actor_label,
            "ip": r.ip,
            "user_agent": r.user_agent,
            "detail": r.detail,
        }


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
                _write_list(archive, name, lists[name](organization))
        size = tmp.tell()
        tmp.seek(0)
        from django.core.files.storage import default_storage

        name = default_storage.save(export_upload_to(export, ""), File(tmp))
    return name, size
