"""Routes of the callback-endpoints API under /api/v1/ (no trailing slashes)."""

from django.urls import include, path

from webhooks import api

endpoint_urls = [
    path("test", api.CallbackEndpointTestView.as_view(), name="api-callback-endpoint-test"),
    path("rotate-secret", api.CallbackEndpointRotateSecretView.as_view(), name="api-callback-endpoint-rotate-secret"),
    path("deliveries", api.CallbackDeliveryListView.as_view(), name="api-callback-endpoint-deliveries"),
]

urlpatterns = [
    path("callback-endpoints", api.CallbackEndpointListView.as_view(), name="api-callback-endpoint-list"),
    path(
        "callback-endpoints/<uuid:public_id>",
        api.CallbackEndpointDetailView.as_view(),
        name="api-callback-endpoint-detail",
    ),
    path("callback-endpoints/<uuid:public_id>/", include(endpoint_urls)),
    path("sandbox/inbound", api.SandboxInboundView.as_view(), name="api-sandbox-inbound"),
]
