"""Portal pages of the accounts app (mounted under /portal/ by jood/portal_urls.py)."""

from django.urls import include, path

from accounts import views

signup_urls = [
    path("", views.signup, name="portal-signup"),
    path("sent/", views.signup_sent, name="portal-signup-sent"),
    path("confirm/<uidb64>/<token>/", views.signup_confirm, name="portal-signup-confirm"),
]

member_urls = [
    path("role/", views.team_role, name="portal-team-role"),
    path("remove/", views.team_remove, name="portal-team-remove"),
    path("resend/", views.team_resend, name="portal-team-resend"),
]

urlpatterns = [
    path("signup/", include(signup_urls)),
    path("login/", views.login_view, name="portal-login"),
    path("logout/", views.logout_view, name="portal-logout"),
    path("password-reset/", views.password_reset, name="portal-password-reset"),
    path("password-reset/sent/", views.password_reset_done, name="portal-password-reset-done"),
    path("reset/<uidb64>/<token>/", views.password_reset_confirm, name="portal-password-reset-confirm"),
    path("reset/done/", views.password_reset_complete, name="portal-password-reset-complete"),
    path("organization/switch/", views.switch_organization, name="portal-switch-organization"),
    path("organization/new/", views.no_organization, name="portal-no-organization"),
    path("organization/settings/", views.organization_settings, name="portal-organization-settings"),
    path("api-keys/", views.api_keys, name="portal-api-keys"),
    path("api-keys/created/", views.api_key_created, name="portal-api-key-created"),
    path("api-keys/<uuid:public_id>/revoke/", views.api_key_revoke, name="portal-api-key-revoke"),
    path("team/", views.team, name="portal-team"),
    path("team/<int:pk>/", include(member_urls)),
    path("access-log/", views.access_log, name="portal-access-log"),
    path("profile/", views.profile, name="portal-profile"),
    path("profile/password/", views.password_change, name="portal-password-change"),
]
