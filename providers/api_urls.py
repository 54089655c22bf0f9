"""Routes of the provider-accounts API under /api/v1/ (no trailing slashes)."""

from django.urls import include, path

from providers import api

account_urls = [
    path("check", api.ProviderAccountCheck.as_view(), name="api-provider-account-check"),
    path(
        "rotate-webhook-token",
        api.ProviderAccountRotateWebhookToken.as_view(),
        name="api-provider-account-rotate-webhook-token",
    ),
]

urlpatterns = [
    path("provider-accounts", api.ProviderAccountList.as_view(), name="api-provider-accounts"),
    path("provider-accounts/<uuid:public_id>", api.ProviderAccountDetail.as_view(), name="api-provider-account"),
    path("provider-accounts/<uuid:public_id>/", include(account_urls)),
]
