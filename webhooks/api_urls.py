"""Routes of the callback-endpoints API under /api/v1/ (no trailing slashes)."""

from django.urls import path

from webhooks import api

urlpatterns = [
    path("callback-endpoints", api.CallbackEndpointListView.as_view(), name="api-callback-endpoint-list"),
    path(
        "callback-endpoints/<uuid:public_id>",
        api.CallbackEndpointDetailView.as_view(),
        name="api-callback-endpoint-detail",
    ),
    path(
        "callback-endpoints/<uuid:public_id>/test",
        api.CallbackEndpointTestView.as_view(),
        name="api-callback-endpoint-test",
    ),
    path(
        "callback-endpoints/<uuid:public_id>/rotate-secret",
        api.CallbackEndpointRotateSecretView.as_view(),
        name="api-callback-endpoint-rotate-secret",
    ),
    path(
        "callback-endpoints/<uuid:public_id>/deliveries",
        api.CallbackDeliveryListView.as_view(),
        name="api-callback-endpoint-deliveries",
    ),
    path("sandbox/inbound", api.SandboxInboundView.as_view(), name="api-sandbox-inbound"),
]
