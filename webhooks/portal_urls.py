"""Portal pages of callback endpoints (mounted under /portal/ by jood/portal_urls.py)."""

from django.urls import include, path

from webhooks import views_portal as views

endpoint_urls = [
    path("", views.endpoint_detail, name="portal-callback"),
    path("created/", views.endpoint_created, name="portal-callback-created"),
    path("edit/", views.endpoint_edit, name="portal-callback-edit"),
    path("delete/", views.endpoint_delete, name="portal-callback-delete"),
    path("test/", views.endpoint_test, name="portal-callback-test"),
    path("rotate-secret/", views.endpoint_rotate_secret, name="portal-callback-rotate-secret"),
]

urlpatterns = [
    path("callbacks/", views.endpoint_list, name="portal-callbacks"),
    path("callbacks/new/", views.endpoint_create, name="portal-callback-new"),
    path("callbacks/<uuid:public_id>/", include(endpoint_urls)),
    path("sandbox/inbound/", views.sandbox_inbound, name="portal-sandbox-inbound"),
]
