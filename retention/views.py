"""Pages of the retention app: the public privacy policy, consent, and the portal's "Privacy and data"."""

from __future__ import annotations

import secrets

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.models import Role
from accounts.services import Actor
from jood.portal import get_for_org, portal_view
from retention import purge, services
from retention.models import DataExport

# --- public ------------------------------------------------------------------------------------


def privacy_policy(request):
    """The privacy policy: public, with its version as the "Last updated" date."""
    return render(
        request,
        "retention/privacy_policy.html",
        {
            "version": services.current_policy_version(),
            "retention_days": settings.MESSAGE_LOG_RETENTION_DAYS,
            "access_log_days": settings.ACCESS_LOG_RETENTION_DAYS,
            "grace_days": services.deletion_grace().days,
            "export_hours": int(services.export_lifetime().total_seconds() // 3600),
            "contact": settings.PRIVACY_CONTACT_EMAIL,
        },
    )


class AcceptForm(forms.Form):
    accept = forms.BooleanField(required=True, label="I have read and accept the privacy policy.")
    adult = forms.BooleanField(required=False, label="I am 18 years old or older.")

    def __init__(self, *args, need_adult: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["accept"].error_messages["required"] = "Please accept the privacy policy to continue."
        if need_adult:
            self.fields["adult"].required = True
            self.fields["adult"].error_messages["required"] = "Jood Notifications is for people 18 or older."
        else:
            del self.fields["adult"]


def _safe_next(request, default: str = "/portal/") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return default


@never_cache
@login_required
def privacy_accept(request):
    """Ask the logged-in user to accept the current policy (the consent middleware sends them here)."""
    user = request.user
    form = AcceptForm(request.POST or None, need_adult=user.confirmed_adult_at is None)
    if request.method == "POST" and form.is_valid():
        services.accept_privacy_policy(
            user, Actor.from_request(request), confirmed_adult=form.cleaned_data.get("adult", False)
        )
        messages.success(request, "Thank you: your consent is recorded.")
        return redirect(_safe_next(request))
    return render(
        request,
        "retention/privacy_accept.html",
        {
            "form": form,
            "version": services.current_policy_version(),
            "previous": user.privacy_policy_version,
            "next": _safe_next(request),
        },
    )


# --- portal: "Privacy and data" ------------------------------------------------------------------


@portal_view(section="privacy", write_role=Role.OWNER, while_withdrawn=True)
def privacy_page(request):
    organization = request.organization
    exports = list(DataExport.objects.filter(organization=organization)[:5])
    return render(
        request,
        "retention/privacy.html",
        {
            "exports": exports,
            "oldest_kept": purge.oldest_kept(organization),
            "held": purge.is_held(organization),
            "grace_days": services.deletion_grace().days,
            "last_owner_of": services.last_owned_organizations(request.user),
            "contact": settings.PRIVACY_CONTACT_EMAIL,
            "waiting": services.waiting_messages(organization),
        },
    )


@require_POST
@portal_view(min_role=Role.OWNER, write_role=Role.OWNER)
def request_export(request):
    export_format = request.POST.get("format", "json")
    try:
        services.request_export(request.organization, Actor.from_request(request), format=export_format)
    except services.PrivacyError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Your export is being prepared. Reload this page in a minute to download it.")
    return redirect("portal-privacy")


@portal_view(section="privacy", while_withdrawn=True)
def my_data(request, format: str):
    """The person's own data, at once: JSON, or CSV files in a zip. Any member, consent withdrawn or not."""
    try:
        data, extension = services.export_personal_data(request.user, Actor.from_request(request), format=format)
    except services.PrivacyError:
        raise Http404 from None
    content_type = "application/json" if extension == "json" else "application/zip"
    response = HttpResponse(data, content_type=content_type)
    stamp = f"{request.user.pk}-{services.timezone.now():%Y%m%d}"
    response["Content-Disposition"] = f'attachment; filename="jood-my-data-{stamp}.{extension}"'
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@portal_view(write_role=Role.VIEWER, while_withdrawn=True)
def consent(request):
    """Withdraw consent (the account stays, restricted) or give it again."""
    actor = Actor.from_request(request)
    if request.POST.get("action") == "withdraw":
        if services.withdraw_consent(request.user, actor):
            messages.success(
                request,
                "Your consent is withdrawn. Your account and data are kept; you can read and export them but not "
                "send or change anything until you give consent again.",
            )
    elif request.POST.get("action") == "give":
        services.accept_privacy_policy(request.user, actor)
        messages.success(request, "Thank you: your consent is recorded and your account is no longer restricted.")
    return redirect("portal-privacy")


@require_POST
@portal_view(min_role=Role.OWNER, write_role=Role.OWNER)
def restrict(request):
    actor = Actor.from_request(request)
    if request.POST.get("action") == "lift":
        if services.lift_restriction(request.organization, actor):
            messages.success(request, "The restriction is lifted: messages waiting to be sent go now.")
    elif services.restrict_processing(request.organization, actor):
        messages.success(
            request, "Processing is restricted: nothing is sent and your data is kept until you lift the restriction."
        )
    return redirect("portal-privacy")


@require_POST
@portal_view(min_role=Role.OWNER, write_role=Role.OWNER)
def cancel_deletion(request):
    if services.cancel_organization_deletion(request.organization, Actor.from_request(request)):
        messages.success(
            request,
            f"{request.organization.name} will not be deleted and sending is resumed. Reconnect your provider "
            "credentials and create new API keys: those were erased when the deletion was requested.",
        )
    return redirect("portal-privacy")


@portal_view(min_role=Role.OWNER)
def download_export(request, public_id, token: str):
    export = get_for_org(request, DataExport, public_id=public_id)
    if not secrets.compare_digest(export.token, token):
        raise Http404
    if not services.claim_download(export, Actor.from_request(request)):
        messages.error(request, "That export was downloaded already or has expired. Request a new one.")
        return redirect("portal-privacy")
    filename = f"jood-export-{export.created_at:%Y%m%d}.zip"
    return FileResponse(export.file.open("rb"), as_attachment=True, filename=filename, content_type="application/zip")


@require_POST
@portal_view(min_role=Role.OWNER, write_role=Role.OWNER)
def pause(request):
    cancel_waiting = request.POST.get("waiting") == "cancel"
    if services.pause_organization(request.organization, Actor.from_request(request), cancel_waiting=cancel_waiting):
        if cancel_waiting:
            messages.success(request, "Sending is paused and waiting messages are canceled; each one says why.")
        else:
            messages.success(request, "Sending is paused: waiting messages wait and go when you resume.")
    return redirect("portal-privacy")


@require_POST
@portal_view(min_role=Role.OWNER, write_role=Role.OWNER)
def resume(request):
    try:
        if services.resume_organization(request.organization, Actor.from_request(request)):
            messages.success(request, "Sending is resumed.")
    except services.PrivacyError as exc:
        messages.error(request, exc.message)
    return redirect("portal-privacy")


@require_POST
@portal_view(min_role=Role.OWNER, write_role=Role.OWNER)
def delete_organization(request):
    organization = request.organization
    if request.POST.get("confirm", "").strip() != organization.name.strip():
        messages.error(request, "Type the organization's name exactly to delete it.")
        return redirect("portal-privacy")
    services.request_organization_deletion(organization, Actor.from_request(request))
    messages.success(
        request,
        f"{organization.name} will be deleted on {organization.deletion_scheduled_for:%Y-%m-%d}. "
        "Provider credentials are erased and API keys revoked now.",
    )
    return redirect("portal-privacy")


@require_POST
@login_required
def delete_account(request):
    user = request.user
    if request.POST.get("confirm", "").strip().lower() != user.email.lower():
        messages.error(request, "Type your email address exactly to delete your account.")
        return redirect("portal-privacy")
    try:
        services.delete_user(user, Actor.from_request(request))
    except services.PrivacyError as exc:
        messages.error(request, exc.message)
        return redirect("portal-privacy")
    logout(request)
    messages.success(request, "Your account is deleted.")
    return redirect("portal-login")
