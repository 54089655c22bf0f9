"""Portal pages of callback endpoints: list, create (the signing secret shown once), edit, delete,
the delivery log, and a test event; and the sandbox's simulated customer reply.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.db.models import Count, Max, Prefetch, Q
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.models import Role
from accounts.services import Actor
from jood.portal import CheapPage, get_for_org, one_time_secret, portal_view
from messaging.forms import SandboxInboundForm
from webhooks import callbacks, services
from webhooks.forms import EVENT_LABELS, CallbackEndpointForm
from webhooks.models import CallbackAttempt, CallbackDelivery, CallbackEndpoint

MAX_ENDPOINTS = 20


@portal_view(section="callbacks", write_role=Role.ADMIN)
def endpoint_list(request):
    endpoints = (
        CallbackEndpoint.objects.filter(organization=request.organization)
        .annotate(
            last_delivery_at=Max("deliveries__created_at"),
            failed_count=Count("deliveries", filter=Q(deliveries__state=CallbackDelivery.State.FAILED)),
            pending_count=Count("deliveries", filter=Q(deliveries__state=CallbackDelivery.State.PENDING)),
        )
        .order_by("created_at", "id")
    )
    return render(
        request,
        "webhooks/endpoint_list.html",
        {"endpoints": endpoints, "event_labels": EVENT_LABELS, "max_endpoints": MAX_ENDPOINTS},
    )


@portal_view(min_role=Role.ADMIN, section="callbacks")
def endpoint_create(request):
    form = CallbackEndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if CallbackEndpoint.objects.filter(organization=request.organization).count() >= MAX_ENDPOINTS:
            form.add_error(None, f"An organization can have at most {MAX_ENDPOINTS} endpoints.")
        else:
            data = form.cleaned_data
            endpoint, secret = services.create_endpoint(
                request.organization,
                data["url"],
                events=data["events"],
                description=data["description"],
                is_active=data["is_active"],
                actor=Actor.from_request(request),
            )
            # Shown in this response only: never stored, not even in the session.
            return one_time_secret(request, "webhooks/endpoint_created.html", {"endpoint": endpoint, "secret": secret})
    return render(request, "webhooks/endpoint_form.html", {"form": form, "endpoint": None})


@portal_view(min_role=Role.ADMIN, section="callbacks")
def endpoint_created(request, public_id):
    """The secret was shown in the answer that created (or rotated) it; here it is gone."""
    endpoint = get_for_org(request, CallbackEndpoint, public_id=public_id)
    return render(request, "webhooks/endpoint_created.html", {"endpoint": endpoint, "secret": None})


@require_POST
@portal_view(min_role=Role.ADMIN, section="callbacks")
def endpoint_rotate_secret(request, public_id):
    """Make a new signing secret and show it in this answer only; the old one signs too for the grace period."""
    endpoint = get_for_org(request, CallbackEndpoint, public_id=public_id)
    secret = services.rotate_endpoint_secret(endpoint, actor=Actor.from_request(request))
    context = {
        "endpoint": endpoint,
        "secret": secret,
        "rotated": True,
        "grace_hours": settings.SECRET_ROTATION_GRACE_HOURS,
    }
    return one_time_secret(request, "webhooks/endpoint_created.html", context)


@portal_view(min_role=Role.ADMIN, section="callbacks")
def endpoint_edit(request, public_id):
    endpoint = get_for_org(request, CallbackEndpoint, public_id=public_id)
    initial = {
        "url": endpoint.url,
        "events": endpoint.events,
        "description": endpoint.description,
        "is_active": endpoint.is_active,
    }
    form = CallbackEndpointForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        services.update_endpoint(
            endpoint,
            actor=Actor.from_request(request),
            url=data["url"],
            events=data["events"],
            description=data["description"],
            is_active=data["is_active"],
        )
        messages.success(request, "The endpoint is saved.")
        return redirect("portal-callback", public_id=endpoint.public_id)
    return render(request, "webhooks/endpoint_form.html", {"form": form, "endpoint": endpoint})


@portal_view(min_role=Role.ADMIN, section="callbacks")
def endpoint_delete(request, public_id):
    endpoint = get_for_org(request, CallbackEndpoint, public_id=public_id)
    if request.method == "POST":
        services.delete_endpoint(endpoint, actor=Actor.from_request(request))
        messages.success(request, f"The endpoint {endpoint.url} is deleted with its delivery log.")
        return redirect("portal-callbacks")
    return render(request, "webhooks/endpoint_delete.html", {"endpoint": endpoint})


@portal_view(section="callbacks", write_role=Role.ADMIN)
def endpoint_detail(request, public_id):
    """The endpoint and its delivery log, newest first, each delivery with its tries."""
    endpoint = get_for_org(request, CallbackEndpoint, public_id=public_id)
    state = request.GET.get("state", "")
    qs = (
        CallbackDelivery.objects.filter(endpoint=endpoint, organization=request.organization)
        .select_related("message")
        .prefetch_related(Prefetch("attempt_log", queryset=CallbackAttempt.objects.order_by("number")))
        .order_by("-created_at", "-id")
    )
    if state in CallbackDelivery.State.values:
        qs = qs.filter(state=state)
    page = CheapPage(qs, request.GET.get("page"), per_page=25)
    return render(
        request,
        "webhooks/endpoint_detail.html",
        {
            "endpoint": endpoint,
            "page": page,
            "query": f"state={state}" if state in CallbackDelivery.State.values else "",
            "state": state,
            "states": CallbackDelivery.State.choices,
            "event_labels": EVENT_LABELS,
        },
    )


@require_POST
@portal_view(min_role=Role.ADMIN, section="callbacks")
def endpoint_test(request, public_id):
    endpoint = get_for_org(request, CallbackEndpoint, public_id=public_id)
    try:
        delivery = callbacks.send_test_event(endpoint)
    except Exception as exc:  # noqa: BLE001 - the page reports any failure of the one try
        messages.error(request, f"The test event could not be sent: {exc}")
        return redirect("portal-callback", public_id=endpoint.public_id)
    if delivery.state == CallbackDelivery.State.SUCCEEDED:
        messages.success(
            request,
            f"Test event delivered: your server answered {delivery.last_status_code} in {delivery.last_latency_ms} ms.",
        )
    else:
        detail = delivery.last_error or (
            f"HTTP {delivery.last_status_code}" if delivery.last_status_code else "no answer"
        )
        messages.error(request, f"The test event failed: {detail}. It is not retried; fix the endpoint and try again.")
    return redirect("portal-callback", public_id=endpoint.public_id)


# --- the sandbox: a simulated customer reply ---------------------------------------------------
@require_POST
@portal_view(min_role=Role.MEMBER, section="inbox")
def sandbox_inbound(request):
    """Simulate a reply from a customer to the organization's sandbox account (opens the WhatsApp window)."""
    form = SandboxInboundForm(request.POST)
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = ""
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect(target or "portal-inbox")
    data = form.cleaned_data
    try:
        inbound = services.simulate_sandbox_inbound(
            request.organization, data["from_number"], data["body"], channel=data["channel"]
        )
    except services.SandboxError as exc:
        messages.error(request, exc.message)
        return redirect(target or "portal-inbox")
    text = f"Simulated a reply from {inbound.from_number} to {inbound.provider_account.label}."
    if inbound.channel == "whatsapp":
        text += " The 24-hour WhatsApp window is open: free-form messages to this number are allowed."
    messages.success(request, text)
    return redirect(target or reverse("portal-inbox-conversation", kwargs={"phone": inbound.from_number}))
