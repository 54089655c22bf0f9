"""Routes of the accounts API under /api/v1/ (no trailing slashes)."""

from django.urls import path

from accounts import api

urlpatterns = [
    path("organization", api.OrganizationView.as_view(), name="api-organization"),
    path("api-keys", api.ApiKeyListView.as_view(), name="api-key-list"),
    path("api-keys/<uuid:public_id>", api.ApiKeyDetailView.as_view(), name="api-key-detail"),
    path("api-keys/<uuid:public_id>/revoke", api.ApiKeyRevokeView.as_view(), name="api-key-revoke"),
]
