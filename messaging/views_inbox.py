"""Portal pages of the inbox: conversations by contact number, a conversation, and the reply box.

Reads are in messaging/inbox.py; marking read and replying go through
messaging/services.py. Every query is scoped to `request.organization`.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from accounts.services import Actor
from jood.phones import InvalidNumber, to_e164
from jood.portal import CheapPage, portal_view, query_without_page
from messaging import forms, inbox, services
from messaging.models import InboundMessage, Message
from providers.models import Channel, ProviderAccount


def _channel(request) -> str:
    channel = request.GET.get("channel", "")
    return channel if channel in Channel.values else ""


def _has_sandbox(organization) -> bool:
    return ProviderAccount.objects.filter(organization=organization, provider="sandbox", is_active=True).exists()


@portal_view(section="inbox")
def inbox_list(request):
    channel = _channel(request)
    page = CheapPage(inbox.conversations(request.organization, channel), request.GET.get("page"), per_page=50)
    phones = [row["from_number"] for row in page]
    found = inbox.windows(request.organization, phones, timezone.now())
    details = inbox.describe(request.organization, phones, channel)
    rows = [{**row, **details.get(row["from_number"], {}), "window": found[row["from_number"]]} for row in page]
    return render(
        request,
        "messaging/inbox.html",
        {
            "rows": rows,
            "page": page,
            "channel": channel,
            "channels": Channel.choices,
            "query": query_without_page(request),
            "has_sandbox": _has_sandbox(request.organization),
            "sandbox_form": _sandbox_form(),
        },
    )


def _sandbox_form(phone: str = ""):
    return forms.SandboxInboundForm(initial={"from_number": phone, "body": "Hello"}, auto_id="sim-%s")


@portal_view(section="inbox")
def conversation(request, phone):
    try:
        phone = to_e164(phone)
    except InvalidNumber:
        raise Http404("Not a phone number.") from None
    channel = _channel(request)
    organization = request.organization
    window = inbox.windows(organization, [phone])[phone]
    last_inbound = (
        InboundMessage.objects.filter(organization=organization, from_number=phone).order_by("-received_at").first()
    )
    reply_channel = channel or (last_inbound.channel if last_inbound else Channel.WHATSAPP)
    form = forms.ReplyForm(
        request.POST or None,
        organization=organization,
        window_open=window.is_open,
        initial={"channel": reply_channel},
    )
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            template = data.get("template")
            send_request = services.SendRequest(
                channel=data["channel"],
                recipients=[services.Recipient(to=phone, params=forms.build_params(template, data["params"]))],
                body="" if template is not None else data["body"],
                template=template,
            )
            try:
                result = services.accept_messages(organization, send_request, actor=Actor.from_request(request))
            except services.SendError as exc:
                form.add_error(None, exc.message)
            else:
                sent = result.messages[0]
                if sent.status == "rejected":
                    messages.error(request, f"The reply was refused before sending: {sent.error_message}")
                else:
                    messages.success(request, "Your reply is on its way.")
                return redirect(request.get_full_path())
    services.mark_conversation_read(organization, phone, channel)
    entries = inbox.conversation(organization, phone, channel)
    templates = list(form.fields["template"].queryset.filter(channel=reply_channel))
    return render(
        request,
        "messaging/conversation.html",
        {
            "phone": phone,
            "entries": entries,
            "channel": channel,
            "channels": Channel.choices,
            "window": window,
            "reply_channel": reply_channel,
            "form": form,
            "approved_templates": [t for t in templates if t.is_approved],
            "has_sandbox": _has_sandbox(organization),
            "sandbox_form": _sandbox_form(phone),
            "inbox_url": reverse("portal-inbox"),
            "has_history": bool(entries) or Message.objects.filter(organization=organization, to=phone).exists(),
        },
    )
