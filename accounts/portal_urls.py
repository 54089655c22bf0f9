"""Portal pages of the accounts app (mounted under /portal/ by jood/portal_urls.py)."""

from django.urls import path

from accounts import views

urlpatterns = [
    path("signup/", views.signup, name="portal-signup"),
    path("signup/sent/", views.signup_sent, name="portal-signup-sent"),
    path("signup/confirm/<uidb64>/<token>/", views.signup_confirm, name="portal-signup-confirm"),
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
    path("team/<int:pk>/role/", views.team_role, name="portal-team-role"),
    path("team/<int:pk>/remove/", views.team_remove, name="portal-team-remove"),
    path("team/<int:pk>/resend/", views.team_resend, name="portal-team-resend"),
    path("access-log/", views.access_log, name="portal-access-log"),
    path("profile/", views.profile, name="portal-profile"),
    path("profile/password/", views.password_change, name="portal-password-change"),
]
