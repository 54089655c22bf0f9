"""Portal pages of provider accounts: list, connect, edit, test, enable/disable, delete.

Credentials go in through password inputs and never come back out: pages
show only the masked hints (`credentials_hint`).
"""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.models import Role
from accounts.services import Actor
from jood.portal import get_for_org, portal_view
from providers import services
from providers.base import get_adapter, provider_names
from providers.forms import PASTE_HELP, PROVIDER_INFO, ProviderAccountForm
from providers.models import Channel, Provider, ProviderAccount

HEALTH_LABELS = services.HEALTH_LABELS


def _provider_or_404(name: str) -> str:
    if name not in provider_names():
        raise Http404("Unknown provider.")
    return name


def _provider_label(name: str) -> str:
    try:
        return Provider(name).label
    except ValueError:
        return name.title()


@portal_view(section="providers", write_role=Role.ADMIN)
def account_list(request):
    accounts = ProviderAccount.objects.filter(organization=request.organization).order_by("channel", "priority", "id")
    channel = request.GET.get("channel", "")
    if channel not in Channel.values:
        channel = ""
    if channel:
        accounts = accounts.filter(channel=channel)
    rows = [
        {
            "account": a,
            "paste_help": PASTE_HELP.get(a.provider, ""),
            "health_label": HEALTH_LABELS.get(a.health_status, a.health_status.replace("_", " ")),
        }
        for a in accounts
    ]
    return render(
        request, "providers/account_list.html", {"rows": rows, "channel": channel, "channels": Channel.choices}
    )


@portal_view(min_role=Role.ADMIN, section="providers")
def connect_choose(request):
    providers = []
    for name in provider_names():
        adapter = get_adapter(name)
        providers.append(
            {
                "name": name,
                "label": _provider_label(name),
                "channels": [c.upper() if c == "sms" else "WhatsApp" for c in adapter.channels],
                "info": PROVIDER_INFO.get(name, ""),
            }
        )
    # The sandbox last: real providers first.
    providers.sort(key=lambda p: (p["name"] == "sandbox", p["label"]))
    return render(request, "providers/connect_choose.html", {"providers": providers})


@portal_view(min_role=Role.ADMIN, section="providers")
def connect(request, provider):
    provider = _provider_or_404(provider)
    form = ProviderAccountForm(request.POST or None, provider=provider)
    if request.method == "POST" and form.is_valid():
        try:
            account = services.connect_account(
                request.organization,
                provider=provider,
                channel=form.cleaned_data["channel"],
                credentials=form.credentials(),
                actor=Actor.from_request(request),
                **form.settings_values(),
            )
        except services.InvalidAccount as exc:
            form.add_service_errors(exc.errors)
        else:
            # Connecting checks at once (after the account is saved), so a wrong token shows now, not at the first send.
            result = services.check_account(account)
            if result.ok:
                messages.success(request, f"{account.label} is connected and the connection works. {result.detail}")
            else:
                messages.error(
                    request,
                    f"{account.label} is connected, but the check failed: {services.health_problem(result)} "
                    "Messages are routed to your other accounts until it passes: fix it with “Edit”.",
                )
            return redirect("portal-providers")
    return render(
        request,
        "providers/account_form.html",
        {"form": form, "provider": provider, "provider_label": _provider_label(provider), "account": None},
    )


@portal_view(min_role=Role.ADMIN, section="providers")
def edit(request, public_id):
    account = get_for_org(request, ProviderAccount, public_id=public_id)
    form = ProviderAccountForm(request.POST or None, provider=account.provider, account=account)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_account(
                account,
                credentials=form.credentials() or None,
                actor=Actor.from_request(request),
                **form.settings_values(),
            )
        except services.InvalidAccount as exc:
            form.add_service_errors(exc.errors)
        else:
            messages.success(request, f"{account.label} is saved.")
            return redirect("portal-providers")
    return render(
        request,
        "providers/account_form.html",
        {
            "form": form,
            "provider": account.provider,
            "provider_label": _provider_label(account.provider),
            "account": account,
        },
    )


def _account_action(action):
    """Make a POST view that does `action(request, account)` to one of the organization's accounts, then lists them."""

    @require_POST
    @portal_view(min_role=Role.ADMIN, section="providers")
    @wraps(action)
    def view(request, public_id):
        action(request, get_for_org(request, ProviderAccount, public_id=public_id))
        return redirect("portal-providers")

    return view


@_account_action
def check(request, account: ProviderAccount) -> None:
    result = services.check_account(account)
    if result.ok:
        messages.success(request, f"{account.label}: the connection works. {result.detail}".strip())
    else:
        messages.error(request, f"{account.label}: {services.health_problem(result)}")


@_account_action
def toggle(request, account: ProviderAccount) -> None:
    active = request.POST.get("active") == "1"
    services.set_active(account, active, actor=Actor.from_request(request))
    if active:
        messages.success(request, f"{account.label} is enabled: messages can be routed to it.")
    else:
        messages.info(request, f"{account.label} is disabled: no new message goes through it.")


@_account_action
def rotate_token(request, account: ProviderAccount) -> None:
    services.rotate_webhook_secret(account, actor=Actor.from_request(request))
    messages.success(
        request,
        f"{account.label} has a new webhook token. The old one keeps working for "
        f"{settings.SECRET_ROTATION_GRACE_HOURS} hours: where you pasted the callback URL in the provider's "
        "console, paste the new one before then.",
    )


@portal_view(min_role=Role.ADMIN, section="providers")
def delete(request, public_id):
    account = get_for_org(request, ProviderAccount, public_id=public_id)
    if request.method == "POST":
        label = account.label
        services.delete_account(account, actor=Actor.from_request(request))
        messages.success(request, f"{label} is deleted, with its stored credentials.")
        return redirect("portal-providers")
    return render(request, "providers/account_delete.html", {"account": account})
