"""Portal pages of the accounts app: sign up, log in, organizations, API keys, team, access log, profile."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts import forms, services
from accounts.models import AccessLog, ApiKey, ApiKeyUse, Membership, Role, User
from accounts.portal import memberships_of
from jood.portal import SESSION_KEY, CheapPage, get_for_org, one_time_secret, portal_view

SIGNUP_EMAIL_SESSION = "portal_signup_email"


# --- sign up, log in, password reset --------------------------------------------------------
@never_cache
def signup(request):
    if request.user.is_authenticated:
        return redirect("portal-dashboard")
    form = forms.SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        # The same answer whether the address has an account or not (issue 13): the email says which.
        services.request_sign_up(
            organization_name=data["organization_name"],
            name=data["name"],
            email=data["email"],
            phone=data["phone"],
            password=data["password"],
            actor=services.Actor.from_request(request),
            time_zone=data["time_zone"],
            request=request,
        )
        request.session[SIGNUP_EMAIL_SESSION] = data["email"]
        return redirect("portal-signup-sent")
    return render(request, "accounts/signup.html", {"form": form})


@never_cache
def signup_sent(request):
    return render(request, "accounts/signup_sent.html", {"email": request.session.get(SIGNUP_EMAIL_SESSION, "")})


@never_cache
def signup_confirm(request, uidb64, token):
    """Follow the emailed link: activate the account, log in, work in the new organization."""
    user = services.confirm_sign_up(uidb64, token)
    if user is None:
        return render(request, "accounts/signup_invalid.html")
    login(request, user, backend="accounts.login_throttle.ThrottledModelBackend")
    request.session.pop(SIGNUP_EMAIL_SESSION, None)
    organization = memberships_of(user)[0].organization
    request.session[SESSION_KEY] = organization.pk
    messages.success(request, f"Welcome to Jood Notifications. Next: connect a provider account for {organization}.")
    return redirect("portal-providers")


login_view = auth_views.LoginView.as_view(
    template_name="accounts/login.html",
    authentication_form=forms.LoginForm,
    redirect_authenticated_user=True,
    next_page=reverse_lazy("portal-dashboard"),
)
logout_view = auth_views.LogoutView.as_view(next_page=reverse_lazy("portal-login"))
password_reset = auth_views.PasswordResetView.as_view(
    template_name="accounts/password_reset.html",
    email_template_name="accounts/email/password_reset.txt",
    subject_template_name="accounts/email/password_reset_subject.txt",
    success_url=reverse_lazy("portal-password-reset-done"),
)
password_reset_done = auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html")
password_reset_confirm = auth_views.PasswordResetConfirmView.as_view(
    template_name="accounts/password_reset_confirm.html",
    success_url=reverse_lazy("portal-password-reset-complete"),
)
password_reset_complete = auth_views.PasswordResetCompleteView.as_view(
    template_name="accounts/password_reset_complete.html"
)


# --- organizations ------------------------------------------------------------------------------
@login_required
@require_POST
def switch_organization(request):
    wanted = request.POST.get("organization", "")
    for membership in memberships_of(request.user):
        if str(membership.organization.public_id) == wanted:
            request.session[SESSION_KEY] = membership.organization_id
            messages.info(request, f"You are now working in {membership.organization}.")
            break
    else:
        messages.error(request, "You are not a member of that organization.")
    return redirect("portal-dashboard")


@never_cache
@login_required
def no_organization(request):
    """Where a user without an organization lands: create one (they become its owner)."""
    if memberships_of(request.user):
        return redirect("portal-dashboard")
    form = forms.OrganizationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        organization = services.create_organization(
            request.user, form.cleaned_data["name"], actor=services.Actor.from_request(request)
        )
        request.session[SESSION_KEY] = organization.pk
        messages.success(request, f"{organization} is ready. Connect a provider account to start sending.")
        return redirect("portal-providers")
    return render(request, "accounts/no_organization.html", {"form": form})


# --- API keys -------------------------------------------------------------------------------------
@portal_view(section="api-keys", write_role=Role.ADMIN)
def api_keys(request):
    form = forms.ApiKeyForm(request.POST or None, is_owner=request.membership.has_role(Role.OWNER))
    if request.method == "POST" and form.is_valid():
        try:
            key, secret = services.create_api_key(
                request.organization,
                form.cleaned_data["name"],
                role=form.cleaned_data["role"],
                scopes=form.scopes,
                actor=services.Actor.from_request(request),
            )
        except services.ScopeError as exc:
            form.add_error(None, str(exc))
        else:
            # Shown in this response only: the secret is never stored, not even in the session.
            return one_time_secret(request, "accounts/api_key_created.html", {"key": key, "secret": secret})
    keys = ApiKey.objects.filter(organization=request.organization).select_related("created_by")
    return render(request, "accounts/api_keys.html", {"form": form, "keys": keys})


@portal_view(min_role=Role.ADMIN, section="api-keys")
def api_key_created(request):
    """Where the page used to be: the secret was shown in the answer to the form, and is gone."""
    return render(request, "accounts/api_key_created.html", {"key": None, "secret": None})


@require_POST
@portal_view(min_role=Role.ADMIN, section="api-keys")
def api_key_revoke(request, public_id):
    key = get_for_org(request, ApiKey, public_id=public_id)
    if services.revoke_api_key(key, actor=services.Actor.from_request(request)):
        messages.success(request, f"The key {key.name} ({key.prefix}…) is revoked: calls with it now get 401.")
    else:
        messages.info(request, f"The key {key.name} was revoked already.")
    return redirect("portal-api-keys")


# --- team ------------------------------------------------------------------------------------------
@portal_view(section="team", write_role=Role.ADMIN)
def team(request):
    form = forms.InviteForm(request.POST or None, acting=request.membership)
    if request.method == "POST" and form.is_valid():
        try:
            services.invite_member(
                request.organization,
                form.cleaned_data["email"],
                form.cleaned_data["role"],
                acting=request.membership,
                actor=services.Actor.from_request(request),
                request=request,
            )
        except services.TeamError as exc:
            form.add_error("role", str(exc))
        else:
            messages.success(request, f"Invitation sent to {form.cleaned_data['email']}.")
            return redirect("portal-team")
    members = (
        Membership.objects.filter(organization=request.organization)
        .select_related("user")
        .order_by("user__name", "user__email")
    )
    rows = [
        {
            "membership": m,
            "pending": services.needs_password(m.user) and m.user.last_login is None,
            "role_form": forms.RoleForm(initial={"role": m.role}, acting=request.membership, prefix=f"m{m.pk}"),
            "may_change": request.can.manage and (m.role != Role.OWNER or request.can.own),
        }
        for m in members
    ]
    return render(request, "accounts/team.html", {"form": form, "rows": rows})


def _member(request, pk) -> Membership:
    return get_object_or_404(Membership.objects.select_related("user"), organization=request.organization, pk=pk)


@require_POST
@portal_view(min_role=Role.ADMIN, section="team")
def team_role(request, pk):
    membership = _member(request, pk)
    form = forms.RoleForm(request.POST, acting=request.membership, prefix=f"m{membership.pk}")
    if not form.is_valid():
        messages.error(request, "Choose one of the roles offered.")
        return redirect("portal-team")
    try:
        services.change_role(
            membership,
            form.cleaned_data["role"],
            acting=request.membership,
            actor=services.Actor.from_request(request),
        )
    except services.TeamError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{membership.user.email} is now {membership.get_role_display().lower()}.")
    return redirect("portal-team")


@require_POST
@portal_view(min_role=Role.ADMIN, section="team")
def team_remove(request, pk):
    membership = _member(request, pk)
    try:
        services.remove_member(membership, acting=request.membership, actor=services.Actor.from_request(request))
    except services.TeamError as exc:
        messages.error(request, str(exc))
        return redirect("portal-team")
    messages.success(request, f"{membership.user.email} was removed from {request.organization}.")
    if membership.user_id == request.user.pk:
        request.session.pop(SESSION_KEY, None)
        return redirect("portal-dashboard")
    return redirect("portal-team")


@require_POST
@portal_view(min_role=Role.ADMIN, section="team")
def team_resend(request, pk):
    membership = _member(request, pk)
    if not services.needs_password(membership.user):
        messages.info(request, f"{membership.user.email} has set a password already.")
    else:
        services.send_invitation(membership.user, request.organization, inviter=request.user, request=request)
        messages.success(request, f"Invitation sent again to {membership.user.email}.")
    return redirect("portal-team")


# --- access log ------------------------------------------------------------------------------------
@portal_view(min_role=Role.ADMIN, section="access-log")
def access_log(request):
    qs = AccessLog.objects.filter(organization=request.organization).select_related("api_key").order_by("-at", "-id")
    action = request.GET.get("action", "")
    if action in AccessLog.Action.values:
        qs = qs.filter(action=action)
    page = CheapPage(qs, request.GET.get("page"), per_page=50)
    query = f"action={action}" if action in AccessLog.Action.values else ""
    # API key use: a row per key, address and user agent per hour (accounts/key_usage.py).
    key_uses = (
        ApiKeyUse.objects.filter(organization=request.organization)
        .select_related("api_key")
        .order_by("-hour", "-last_seen")[:50]
    )
    return render(
        request,
        "accounts/access_log.html",
        {"page": page, "query": query, "action": action, "actions": AccessLog.Action.choices, "key_uses": key_uses},
    )


# --- profile ---------------------------------------------------------------------------------------
@portal_view(section="profile", write_role=Role.VIEWER)
def profile(request):
    # A copy: a form that fails validation must not change the user the page header shows.
    form = forms.ProfileForm(
        request.POST or None, instance=User.objects.get(pk=request.user.pk), organization=request.organization
    )
    if request.method == "POST" and form.is_valid():
        changed = list(form.changed_data)
        form.save()
        if changed:
            services.record_access(
                AccessLog.Action.PROFILE_CHANGED,
                services.Actor.from_request(request),
                organization=request.organization,
                fields=changed,
            )
        messages.success(request, "Your profile is saved.")
        return redirect("portal-profile")
    return render(request, "accounts/profile.html", {"form": form})


@portal_view(section="organization", write_role=Role.ADMIN)
def organization_settings(request):
    """The organization's name and time zone (admins change them; everyone sees them)."""
    organization = request.organization
    form = forms.OrganizationSettingsForm(
        request.POST or None, initial={"name": organization.name, "time_zone": organization.time_zone}
    )
    if request.method == "POST" and form.is_valid():
        changed = services.update_organization(
            organization, actor=services.Actor.from_request(request), **form.cleaned_data
        )
        messages.success(request, "The organization's settings are saved." if changed else "Nothing changed.")
        return redirect("portal-organization-settings")
    return render(request, "accounts/organization_settings.html", {"form": form})


@portal_view(section="profile", write_role=Role.VIEWER)
def password_change(request):
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        update_session_auth_hash(request, user)
        services.record_access(
            AccessLog.Action.PROFILE_CHANGED,
            services.Actor.from_request(request),
            organization=request.organization,
            fields=["password"],
        )
        messages.success(request, "Your password is changed.")
        return redirect("portal-profile")
    return render(request, "accounts/password_change.html", {"form": form})
