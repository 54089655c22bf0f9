from django.urls import path

from providers import api

urlpatterns = [
    path("provider-accounts", api.ProviderAccountList.as_view(), name="api-provider-accounts"),
    path("provider-accounts/<uuid:public_id>", api.ProviderAccountDetail.as_view(), name="api-provider-account"),
    path(
        "provider-accounts/<uuid:public_id>/check",
        api.ProviderAccountCheck.as_view(),
        name="api-provider-account-check",
    ),
    path(
        "provider-accounts/<uuid:public_id>/rotate-webhook-token",
        api.ProviderAccountRotateWebhookToken.as_view(),
        name="api-provider-account-rotate-webhook-token",
    ),
]
