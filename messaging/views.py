"""Portal pages of the messaging app: dashboard, messages, sending (one and bulk), batches, templates, opt-outs.

Sending goes through `services.accept_messages`, as the API does; every
query is scoped to `request.organization`.
"""

from __future__ import annotations

import csv
import json
import logging
import time
import uuid
from datetime import datetime, timedelta
from datetime import time as dtime
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.db.models import Count, Prefetch, Q
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.models import Role
from accounts.services import Actor
from jood.phones import InvalidNumber, to_e164
from jood.portal import CheapPage, get_for_org, portal_view, query_without_page
from messaging import forms, logs, services, sms
from messaging.analytics import counts
from messaging.models import (
    FINAL_FAILURES,
    PENDING,
    Batch,
    DeliveryAttempt,
    Message,
    MessageEvent,
    OptOut,
    Status,
    Template,
)
from messaging.spend import estimate, spend_of
from providers.models import Channel, ProviderAccount

log = logging.getLogger(__name__)

# Status groups of the dashboard chart, in stacking order.
STATUS_GROUPS = [
    ("delivered", "Delivered or read", {Status.DELIVERED, Status.READ}),
    ("sent", "Sent, awaiting receipt", {Status.SENT}),
    ("pending", "Waiting to send", {Status.SCHEDULED, Status.QUEUED, Status.SENDING}),
    ("failed", "Failed, undelivered or rejected", {Status.UNDELIVERED, Status.FAILED, Status.REJECTED}),
    ("canceled", "Canceled", {Status.CANCELED}),
]
GROUP_OF = {status: key for key, _, statuses in STATUS_GROUPS for status in statuses}

# What an error code means, in words (ours, Twilio's, Meta's, and the transport's).
ERROR_EXPLANATIONS = {
    "opted_out": "The recipient opted out of this channel: they replied STOP, or someone added them on the "
    "Opt-outs page. Remove the opt-out only if they asked to receive messages again.",
    "whatsapp_window_closed": "WhatsApp allows free-form messages only within 24 hours of the customer's last "
    "message to you. Outside that window, send an approved template. In the sandbox, simulate the customer's "
    "reply from the Inbox to open the window.",
    "organization_paused": "Sending is paused for your organization (a restriction of processing). An owner "
    "can resume it on the Privacy & data page.",
    "no_provider_account": "No active provider account could take this message: connect or enable one for "
    "this channel, and check its allowed prefixes.",
    "invalid_number": "The phone number is not valid: use the international form, e.g. +966501234567.",
    "missing_parameter": "A template parameter had no value for this recipient.",
    "template_not_approved": "The WhatsApp template is not approved by Meta (or was deleted); only approved "
    "templates can be sent.",
    "template_parameters": "The parameters do not fit the template: check their number and names.",
    "unsupported": "The provider cannot do what the message asks, e.g. media through a provider without MMS.",
    "bad_credentials": "The provider refused the account's credentials. Update them and test the connection.",
    "20003": "Twilio refused the credentials (authentication failed). Update the Auth Token and test the connection.",
    "21211": "Twilio: the 'To' number is not a valid phone number.",
    "21408": "Twilio: sending to this region is not enabled. Turn it on in Twilio Console → Messaging → "
    "Settings → Geo permissions.",
    "21610": "Twilio: the recipient replied STOP to your sender, so Twilio blocks messages to them until they "
    "reply START. They were added to your opt-outs.",
    "21614": "Twilio: the number is not a mobile number and cannot receive SMS.",
    "30001": "Queue overflow: the message waited at the provider past its validity. Lower the account's rate to "
    "what the sender can really send.",
    "30003": "Unreachable handset: the phone is off, out of coverage or cannot take SMS right now.",
    "30004": "The message was blocked, for example by the recipient or their carrier.",
    "30005": "Unknown destination: the number does not exist or is no longer in service.",
    "30006": "A landline, or a carrier that cannot be reached: the number cannot receive SMS.",
    "30007": "The carrier filtered the message as spam. Review the text and your sender's registration.",
    "30008": "An unknown error at the carrier. If it repeats, ask the provider about this message id.",
    "131026": "WhatsApp could not deliver to this number: it is not on WhatsApp, has an old app version, or has "
    "not accepted WhatsApp's latest terms.",
    "131047": "More than 24 hours have passed since the customer's last message: re-engage with an approved template.",
    "131049": "Meta held back this marketing message to keep engagement healthy (per-user limit). Try again later.",
    "131050": "The recipient stopped marketing messages from your business.",
    "131051": "WhatsApp does not support this message type.",
    "130429": "The WhatsApp number's throughput limit was reached; the message is retried.",
    "131056": "Too many messages to this person from your number in a short time; the message is retried.",
    "132000": "The number of template parameters does not match the template.",
    "132001": "The template does not exist in this language, or is not approved yet.",
    "190": "The WhatsApp access token expired or was revoked: update it on the provider account.",
    "429": "The provider limited our request rate; the message was retried with backoff.",
    "500": "The provider had an internal error (HTTP 500); the message was retried with backoff.",
    "503": "The provider was unavailable (HTTP 503); the message was retried with backoff, then another account "
    "was tried.",
    "timeout": "The provider did not answer in time; the message was retried. A retry after a timeout can, "
    "rarely, deliver a message twice.",
    "connection_error": "We could not connect to the provider; the message was retried.",
    "malformed_response": "The provider's answer could not be read; the message was retried.",
}

SEND_ERROR_FIELDS = {
    "invalid_number": "to",
    "duplicate_recipient": "to",
    "missing_parameter": "params",
    "template_parameters": "params",
    "template_not_approved": "template",
    "template_channel": "template",
    "provider_account": "provider_account",
    "media_unsupported": "media",
    "empty_message": "body",
    "invalid_channel": "channel",
}

BULK_SESSION = "portal_bulk"
BULK_DIR = "portal-bulk"
BULK_MAX_AGE = 24 * 3600


def explain(code: str) -> str:
    return ERROR_EXPLANATIONS.get(str(code or ""), "")


# --- dashboard -------------------------------------------------------------------------------
@portal_view(section="dashboard")
def dashboard(request):
    organization = request.organization
    today = timezone.localdate()
    start = today - timedelta(days=29)
    days = [start + timedelta(days=n) for n in range(30)]
    index = {day: n for n, day in enumerate(days)}
    series = {key: [0] * len(days) for key, _, _ in STATUS_GROUPS}
    today_totals = {key: 0 for key, _, _ in STATUS_GROUPS}
    today_segments = 0
    for row in counts(organization, start, today):
        group = GROUP_OF.get(row["status"])
        n = index.get(row["day"])
        if group is None or n is None:
            continue
        series[group][n] += row["count"]
        if row["day"] == today:
            today_totals[group] += row["count"]
            today_segments += row["segments"] if row["channel"] == Channel.SMS else 0
    chart = {
        "days": [d.isoformat() for d in days],
        "series": [{"key": key, "label": label, "values": series[key]} for key, label, _ in STATUS_GROUPS],
    }
    table = [
        {
            "day": d,
            "values": [series[key][n] for key, _, _ in STATUS_GROUPS],
            "total": sum(s[n] for s in series.values()),
        }
        for n, d in enumerate(days)
    ]
    since = timezone.now() - timedelta(days=30)
    delivered = Q(status__in=[Status.DELIVERED, Status.READ])
    failed = Q(status__in=[Status.UNDELIVERED, Status.FAILED])
    per_account = (
        Message.objects.filter(organization=organization, created_at__gte=since, provider_account__isnull=False)
        .values("provider_account")
        .annotate(
            total=Count("id"),
            delivered=Count("id", filter=delivered),
            failed=Count("id", filter=failed),
            sent=Count("id", filter=Q(status=Status.SENT)),
        )
        .order_by()
    )
    accounts = {
        a.pk: a
        for a in ProviderAccount.objects.filter(
            organization=organization, pk__in=[r["provider_account"] for r in per_account]
        )
    }
    rates = []
    for row in per_account:
        account = accounts.get(row["provider_account"])
        if account is None:
            continue
        finished = row["delivered"] + row["failed"]
        rate = round(100.0 * row["delivered"] / finished, 1) if finished else None
        rates.append({"account": account, "rate": rate, **row})
    rates.sort(key=lambda r: -r["total"])
    failures = (
        Message.objects.filter(organization=organization, status__in=list(FINAL_FAILURES))
        .select_related("provider_account")
        .order_by("-created_at", "-id")[:10]
    )
    has_accounts = ProviderAccount.objects.filter(organization=organization).exists()
    return render(
        request,
        "messaging/dashboard.html",
        {
            "chart": chart,
            "table": table,
            "groups": STATUS_GROUPS,
            "today_totals": [(key, label, today_totals[key]) for key, label, _ in STATUS_GROUPS],
            "today_total": sum(today_totals.values()),
            "today_segments": today_segments,
            "rates": rates,
            "failures": [(m, explain(m.error_code)) for m in failures],
            "has_accounts": has_accounts,
        },
    )


# --- messages ----------------------------------------------------------------------------------
def _day_start(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, dtime.min), timezone.get_current_timezone())


@portal_view(section="messages")
def message_list(request):
    form = logs.MessageLogFilter(request.GET or None, organization=request.organization)
    qs = Message.objects.none()
    if not form.is_bound:
        qs = Message.objects.filter(organization=request.organization).order_by("-created_at", "-id")
    elif form.is_valid():
        qs = logs.filter_messages(request.organization, form)
    page = CheapPage(qs.select_related("provider_account"), request.GET.get("page"), per_page=50)
    batch = None
    if form.is_bound and form.is_valid() and form.cleaned_data.get("batch"):
        batch = Batch.objects.filter(organization=request.organization, public_id=form.cleaned_data["batch"]).first()
    export_query = query_without_page(request)
    return render(
        request,
        "messaging/message_list.html",
        {
            "form": form,
            "page": page,
            "query": export_query,
            "batch": batch,
            "export_url": reverse("portal-messages-export") + (f"?{export_query}" if export_query else ""),
        },
    )


def key_values(value) -> list[tuple[str, str]]:
    """Parameters or metadata as (key, value) pairs to show as key=value: a list numbers them from 1."""
    import json

    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list | tuple):
        items = ((str(i), v) for i, v in enumerate(value, start=1))
    else:
        return []
    return [(str(k), v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)) for k, v in items]


@portal_view(section="messages")
def message_export(request):
    """The filtered list as CSV, streamed (any size)."""
    form = logs.MessageLogFilter(request.GET, organization=request.organization)
    if not form.is_valid():
        messages.error(request, "The filters are not valid: correct them and export again.")
        return redirect(reverse("portal-messages") + "?" + request.GET.urlencode())
    return logs.export_response(logs.filter_messages(request.organization, form))


@portal_view(section="messages")
def message_detail(request, public_id):
    message = get_for_org(
        request,
        Message.objects.select_related("provider_account", "template", "batch", "requested_account").prefetch_related(
            Prefetch("events", queryset=MessageEvent.objects.order_by("received_at", "id")),
            Prefetch(
                "delivery_attempts",
                queryset=DeliveryAttempt.objects.select_related("provider_account").order_by("started_at", "id"),
            ),
        ),
        public_id=public_id,
    )
    info = sms.analyse(message.body) if message.channel == Channel.SMS and message.body else None
    events = [(event, explain(event.error_code)) for event in message.events.all()]
    return render(
        request,
        "messaging/message_detail.html",
        {
            "message": message,
            "info": info,
            "events": events,
            "attempts": [(a, explain(a.error_code)) for a in message.delivery_attempts.all()],
            "explanation": explain(message.error_code),
            "params": key_values(message.template_params),
            "metadata": key_values(message.metadata),
            # Our own refusal (opt-out, closed window, pause...): no provider saw it.
            "refused_by_us": message.status == Status.REJECTED or not (message.provider or message.provider_account_id),
            "cancelable": message.status in (Status.SCHEDULED, Status.QUEUED),
            "pending": message.status in PENDING or message.status == Status.SENT,
        },
    )


@portal_view(section="messages")
def message_status_json(request, public_id):
    """The status of one message, for the detail page to follow it live."""
    message = get_for_org(request, Message, public_id=public_id)
    return JsonResponse({"status": message.status, "updated_at": message.updated_at.isoformat()})


@require_POST
@portal_view(min_role=Role.MEMBER, section="messages")
def message_cancel(request, public_id):
    message = get_for_org(request, Message, public_id=public_id)
    if services.cancel_message(message, actor=Actor.from_request(request)):
        messages.success(request, "The message is canceled: it will not be sent.")
    else:
        messages.error(request, f"A {message.status} message cannot be canceled; only scheduled or queued ones.")
    return redirect("portal-message", public_id=message.public_id)


# --- send one ------------------------------------------------------------------------------------
def _template_data(organization) -> list[dict]:
    """What the send page's script needs to preview a template and count its SMS segments."""
    return [
        {
            "id": str(t.pk),
            "body": t.body,
            "channel": t.channel,
            "kind": t.kind,
            "fields": forms.template_fields(t),
        }
        for t in Template.objects.filter(organization=organization)
    ]


def _sms_charset() -> dict:
    return {"basic": "".join(sorted(sms.GSM7_BASIC)), "extension": "".join(sorted(sms.GSM7_EXTENSION))}


@portal_view(min_role=Role.MEMBER, section="send")
def send(request):
    form = forms.SendForm(request.POST or None, request.FILES or None, organization=request.organization)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        media_file = None
        media = []
        if data.get("media"):
            from messaging.media_api import MediaRefused, store_media

            try:
                media_file = store_media(request.organization, data["media"])
            except MediaRefused as exc:
                form.add_error("media", str(exc))
            else:
                media = [{"kind": media_file.kind, "media_id": str(media_file.public_id)}]
        if not form.errors:
            template = data.get("template")
            send_request = services.SendRequest(
                channel=data["channel"],
                recipients=[services.Recipient(to=data["to"], params=forms.build_params(template, data["params"]))],
                body="" if template is not None else data.get("body", ""),
                template=template,
                media=media,
                provider_account=data.get("provider_account"),
                scheduled_at=data.get("scheduled_at"),
            )
            try:
                result = services.accept_messages(
                    request.organization, send_request, actor=Actor.from_request(request), bulk=False
                )
            except services.SendError as exc:
                if media_file is not None:
                    _drop_media(media_file)
                field = SEND_ERROR_FIELDS.get(exc.code)
                form.add_error(field, exc.message)
            else:
                message = result.messages[0]
                if message.status == Status.REJECTED:
                    # Ours, not a provider's: no provider saw the message.
                    messages.warning(request, f"Refused before sending: {message.error_message}")
                elif message.status == Status.SCHEDULED:
                    zone = timezone.get_current_timezone_name()
                    messages.success(
                        request, f"Scheduled for {timezone.localtime(message.scheduled_at):%Y-%m-%d %H:%M} ({zone})."
                    )
                else:
                    messages.success(request, f"Accepted: sending to {message.to}.")
                return redirect("portal-message", public_id=message.public_id)
    return render(
        request,
        "messaging/send.html",
        {
            "form": form,
            "templates_data": _template_data(request.organization),
            "sms_charset": _sms_charset(),
            "has_accounts": ProviderAccount.objects.filter(organization=request.organization, is_active=True).exists(),
        },
    )


def _drop_media(media_file) -> None:
    from messaging.media_api import MediaRefused, delete_media

    try:
        delete_media(media_file)
    except MediaRefused:
        pass


# --- bulk ----------------------------------------------------------------------------------------
def _bulk_dir() -> Path:
    path = Path(settings.MEDIA_ROOT) / BULK_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


def _clean_old_uploads(folder: Path) -> None:
    cutoff = time.time() - BULK_MAX_AGE
    for item in folder.glob("*.json"):
        try:
            if item.stat().st_mtime < cutoff:
                item.unlink()
        except OSError:
            pass


def _bulk_state(request, token: str) -> tuple[dict, dict]:
    """Return the session state and the parsed file of an upload of this session and organization; 404 if gone."""
    state = request.session.get(BULK_SESSION)
    if not state or state.get("token") != token or state.get("organization") != request.organization.pk:
        raise Http404("This upload is gone: upload the file again.")
    path = _bulk_dir() / f"{request.organization.pk}-{token}.json"
    try:
        parsed = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise Http404("This upload is gone: upload the file again.") from None
    return state, parsed


def _bulk_template(request, state) -> Template | None:
    if not state.get("template"):
        return None
    return Template.objects.filter(organization=request.organization, pk=state["template"]).first()


@portal_view(min_role=Role.MEMBER, section="bulk")
def bulk_upload(request):
    form = forms.BulkUploadForm(request.POST or None, request.FILES or None, organization=request.organization)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        token = uuid.uuid4().hex
        folder = _bulk_dir()
        _clean_old_uploads(folder)
        (folder / f"{request.organization.pk}-{token}.json").write_text(json.dumps(form.parsed), encoding="utf-8")
        previous = request.session.get(BULK_SESSION)
        if previous and previous.get("token"):
            (folder / f"{previous.get('organization')}-{previous['token']}.json").unlink(missing_ok=True)
        request.session[BULK_SESSION] = {
            "token": token,
            "organization": request.organization.pk,
            "filename": data["file"].name[:200],
            "name": data.get("name") or data["file"].name[:200],
            "channel": data["channel"],
            "account": data["provider_account"].pk if data.get("provider_account") else None,
            "template": data["template"].pk if data.get("template") else None,
            "body": data.get("body", ""),
            "scheduled_at": data["scheduled_at"].isoformat() if data.get("scheduled_at") else None,
            "mapping": None,
        }
        return redirect("portal-bulk-map", token=token)
    return render(
        request,
        "messaging/bulk_upload.html",
        {"form": form, "sms_charset": _sms_charset(), "templates_data": _template_data(request.organization)},
    )


@portal_view(min_role=Role.MEMBER, section="bulk")
def bulk_map(request, token):
    state, parsed = _bulk_state(request, token)
    template = _bulk_template(request, state)
    fields = forms.template_fields(template)
    form = forms.BulkMapForm(request.POST or None, columns=parsed["columns"], rows=parsed["rows"], fields=fields)
    if request.method == "POST" and form.is_valid():
        state["mapping"] = form.mapping()
        request.session[BULK_SESSION] = state
        return redirect("portal-bulk-preview", token=token)
    return render(
        request,
        "messaging/bulk_map.html",
        {
            "form": form,
            "state": state,
            "template": template,
            "columns": parsed["columns"],
            "sample": parsed["rows"][:3],
            "row_count": len(parsed["rows"]),
            "token": token,
        },
    )


def _recipients(parsed: dict, mapping: dict, template: Template | None):
    """Return (recipients, values per recipient) from the rows and the column mapping."""
    recipients, values = [], []
    for row in parsed["rows"]:
        row_values = {
            name: (row[column] if column is not None and column < len(row) else "")
            for name, column in mapping["params"].items()
        }
        values.append(row_values)
        recipients.append(services.Recipient(to=row[mapping["phone"]], params=forms.build_params(template, row_values)))
    return recipients, values


def _bulk_request(request, state: dict, parsed: dict, template: Template | None):
    """The send request of an upload (what the click accepts, what the preview checks) and the values per row."""
    account = None
    if state.get("account"):
        account = ProviderAccount.objects.filter(organization=request.organization, pk=state["account"]).first()
    recipients, values = _recipients(parsed, state["mapping"], template)
    send_request = services.SendRequest(
        channel=state["channel"],
        recipients=recipients,
        body="" if template is not None else state["body"],
        template=template,
        provider_account=account,
        scheduled_at=datetime.fromisoformat(state["scheduled_at"]) if state.get("scheduled_at") else None,
        batch_name=state["name"],
    )
    return send_request, values


# How the preview words the refusals of `services.check_recipients` (the checks decide; the words are the page's).
PREVIEW_REASONS = {
    "invalid_number": lambda refusal: f"invalid number: {refusal.details.get('reason', '')}",
    "duplicate_recipient": lambda refusal: "appears twice in the file",
    "missing_parameter": lambda refusal: f"no value for {refusal.details.get('parameter', '')}",
}


def _preview(request, send_request, values: list[dict], state: dict, template: Template | None) -> dict:
    """What step 3 shows: the first rows as they will read, and the rows that will be refused or rejected.

    The same checks as the acceptance (`services.check_*`), so the preview says what the click will do.
    """
    organization = request.organization
    try:
        accounts = services.check_request(organization, send_request)
    except services.SendError as exc:
        messages.error(request, f"This upload cannot be sent as it is: {exc.message}")
        accounts = []
    prepared, refusals = services.check_recipients(send_request, bulk=True)
    refused = [
        {
            "row": refusal.index + 2,
            "to": refusal.to,
            "reason": PREVIEW_REASONS.get(refusal.code, lambda r: r.message)(refusal),
        }
        for refusal in refusals
    ]
    rows = services.check_rejections(organization, send_request, prepared, accounts, timezone.now())
    values_of = {
        id(recipient): row_values for recipient, row_values in zip(send_request.recipients, values, strict=True)
    }
    good = [(row, values_of[id(recipient)]) for (recipient, _, _), row in zip(prepared, rows, strict=True)]
    body = state["body"]
    sample = [
        {"to": row[0], "text": forms.preview_text(template, body, row_values), "opted_out": row[5] == "opted_out"}
        for row, row_values in good[:10]
    ]
    text = forms.preview_text(template, body, good[0][1]) if good else body
    info = sms.analyse(text) if state["channel"] == Channel.SMS and text else None
    to_send = [row for row, _ in good if row[4] != Status.REJECTED]
    each = [row[7].segments if row[7] else 1 for row in to_send]
    cost = estimate(
        organization, state["channel"], [row[0] for row in to_send], each, account=send_request.provider_account
    )
    return {
        "estimate": cost,
        "total": len(send_request.recipients),
        "good": len(good),
        "refused": refused,
        "opted_out": sum(1 for row, _ in good if row[5] == "opted_out"),
        "sample": sample,
        "info": info,
    }


@portal_view(min_role=Role.MEMBER, section="bulk")
def bulk_preview(request, token):
    state, parsed = _bulk_state(request, token)
    if not state.get("mapping"):
        return redirect("portal-bulk-map", token=token)
    template = _bulk_template(request, state)
    if state.get("template") and template is None:
        raise Http404("The template is gone: upload the file again.")
    send_request, values = _bulk_request(request, state, parsed, template)
    account, scheduled_at = send_request.provider_account, send_request.scheduled_at
    if request.method == "POST":
        # Answer at once: the rows are validated and written by a task, the batch page shows how far it got.
        batch = services.start_portal_batch(request.organization, send_request, actor=Actor.from_request(request))
        (_bulk_dir() / f"{request.organization.pk}-{token}.json").unlink(missing_ok=True)
        request.session.pop(BULK_SESSION, None)
        messages.success(request, f"Sending {len(send_request.recipients):,} messages: this page follows them.")
        return redirect("portal-batch", public_id=batch.public_id)
    preview = _preview(request, send_request, values, state, template)
    return render(
        request,
        "messaging/bulk_preview.html",
        {
            "state": state,
            "template": template,
            "account": account,
            "scheduled_at": scheduled_at,
            "preview": preview,
            "refused_shown": preview["refused"][:100],
            "token": token,
        },
    )


# --- batches ---------------------------------------------------------------------------------------
@portal_view(section="batches")
def batch_list(request):
    qs = Batch.objects.filter(organization=request.organization).select_related("created_by").order_by("-created_at")
    page = CheapPage(qs, request.GET.get("page"), per_page=25)
    return render(request, "messaging/batch_list.html", {"page": page, "query": ""})


def _progress(batch: Batch) -> dict:
    progress = services.batch_progress(batch)
    return {
        **progress,
        "accepted": batch.accepted,
        "refused": batch.refused,
        "groups": {key: sum(progress["counts"].get(s, 0) for s in statuses) for key, _, statuses in STATUS_GROUPS},
    }


@portal_view(section="batches")
def batch_detail(request, public_id):
    batch = get_for_org(request, Batch.objects.select_related("created_by"), public_id=public_id)
    progress = _progress(batch)
    return render(
        request,
        "messaging/batch_detail.html",
        {
            "batch": batch,
            "progress": progress,
            "statuses": [(s, progress["counts"].get(s, 0)) for s in Status.values],
            "progress_url": reverse("portal-batch-progress", kwargs={"public_id": batch.public_id}),
            "messages_url": reverse("portal-messages") + f"?batch={batch.public_id}",
            "spend": spend_of(Message.objects.filter(batch=batch)),
        },
    )


@portal_view(section="batches")
def batch_progress_json(request, public_id):
    batch = get_for_org(request, Batch, public_id=public_id)
    return JsonResponse({**_progress(batch), "state": batch.state, "error": batch.error})


@portal_view(section="batches")
def batch_refused_csv(request, public_id):
    """The rows refused at validation, as CSV (the row of the uploaded file where there was one)."""
    batch = get_for_org(request, Batch, public_id=public_id)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="batch-{batch.public_id}-refused.csv"'
    writer = csv.writer(response)
    writer.writerow(["row", "index", "to", "code", "message"])
    for item in batch.refused_rows or []:
        writer.writerow(
            [
                item.get("row", ""),
                item.get("index", ""),
                _csv_safe(item.get("to", "")),
                item.get("code", ""),
                item.get("message", ""),
            ]
        )
    return response


def _csv_safe(value) -> str:
    """Keep a spreadsheet from running a cell as a formula (CSV injection)."""
    text = str(value)
    return (
        "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not text[1:].replace(" ", "").isdigit() else text
    )


# --- templates -----------------------------------------------------------------------------------
@portal_view(section="templates", write_role=Role.ADMIN)
def template_list(request):
    templates = Template.objects.filter(organization=request.organization).select_related("provider_account")
    own = [t for t in templates if t.kind == Template.Kind.OWN]
    synced = [t for t in templates if t.kind == Template.Kind.WHATSAPP]
    has_whatsapp = ProviderAccount.objects.filter(
        organization=request.organization, provider="whatsapp", is_active=True
    ).exists()
    return render(
        request,
        "messaging/template_list.html",
        {"own": own, "synced": synced, "has_whatsapp": has_whatsapp},
    )


@portal_view(min_role=Role.ADMIN, section="templates")
def template_edit(request, public_id=None):
    template = None
    if public_id is not None:
        template = get_for_org(request, Template, public_id=public_id, kind=Template.Kind.OWN)
    form = forms.TemplateForm(request.POST or None, instance=template, organization=request.organization)
    if request.method == "POST" and form.is_valid():
        saved = services.save_template(request.organization, form.save(commit=False), actor=Actor.from_request(request))
        messages.success(request, f"The template {saved.name} is saved.")
        return redirect("portal-templates")
    return render(
        request,
        "messaging/template_form.html",
        {"form": form, "template": template, "sms_charset": _sms_charset()},
    )


@portal_view(min_role=Role.ADMIN, section="templates")
def template_delete(request, public_id):
    template = get_for_org(request, Template, public_id=public_id, kind=Template.Kind.OWN)
    if request.method == "POST":
        name = template.name
        services.delete_template(template, actor=Actor.from_request(request))
        messages.success(request, f"The template {name} is deleted. Messages sent with it keep their text.")
        return redirect("portal-templates")
    return render(request, "messaging/template_delete.html", {"template": template})


@require_POST
@portal_view(min_role=Role.ADMIN, section="templates")
def template_sync(request):
    from messaging.template_sync import sync_templates, whatsapp_accounts
    from providers.base import ProviderError

    accounts = list(whatsapp_accounts(request.organization.pk).order_by("priority", "id"))
    if not accounts:
        messages.error(request, "No active WhatsApp Cloud account: connect one first.")
    for account in accounts:
        try:
            result = sync_templates(account)
        except ProviderError as exc:
            messages.error(request, f"{account.label}: Meta could not be read: {exc.message}")
        else:
            summary = ", ".join(f"{n} {k}" for k, n in result.items())
            messages.success(request, f"{account.label}: templates synced ({summary}).")
    return redirect("portal-templates")


# --- opt-outs --------------------------------------------------------------------------------------
@portal_view(section="opt-outs")
def opt_out_list(request):
    form = forms.OptOutForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.add_opt_out(
            request.organization, form.cleaned_data["channel"], form.cleaned_data["phone"], source="portal"
        )
        messages.success(request, f"{form.cleaned_data['phone']} will get no more {form.cleaned_data['channel']}.")
        return redirect("portal-opt-outs")
    qs = OptOut.objects.filter(organization=request.organization).order_by("-created_at", "-id")
    search = request.GET.get("phone", "").strip()
    if search:
        try:
            qs = qs.filter(phone=to_e164(search))
        except InvalidNumber:
            digits = "".join(ch for ch in search if ch.isdigit()).lstrip("0")
            qs = qs.filter(phone__contains=digits) if digits else qs.none()
    page = CheapPage(qs, request.GET.get("page"), per_page=50)
    return render(
        request,
        "messaging/opt_outs.html",
        {"form": form, "page": page, "query": query_without_page(request), "search": search},
    )


@require_POST
@portal_view(min_role=Role.MEMBER, section="opt-outs")
def opt_out_remove(request, pk):
    optout = get_for_org(request, OptOut, pk=pk)
    services.remove_opt_out(request.organization, optout.channel, optout.phone, actor=Actor.from_request(request))
    messages.success(request, f"{optout.phone} can receive {optout.channel} messages again.")
    return redirect("portal-opt-outs")
