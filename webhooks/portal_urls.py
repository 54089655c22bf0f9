"""Portal pages of callback endpoints (mounted under /portal/ by jood/portal_urls.py)."""

from django.urls import path

from webhooks import views_portal as views

urlpatterns = [
    path("callbacks/", views.endpoint_list, name="portal-callbacks"),
    path("callbacks/new/", views.endpoint_create, name="portal-callback-new"),
    path("callbacks/<uuid:public_id>/", views.endpoint_detail, name="portal-callback"),
    path("callbacks/<uuid:public_id>/created/", views.endpoint_created, name="portal-callback-created"),
    path("callbacks/<uuid:public_id>/edit/", views.endpoint_edit, name="portal-callback-edit"),
    path("callbacks/<uuid:public_id>/delete/", views.endpoint_delete, name="portal-callback-delete"),
    path("callbacks/<uuid:public_id>/test/", views.endpoint_test, name="portal-callback-test"),
    path(
        "callbacks/<uuid:public_id>/rotate-secret/", views.endpoint_rotate_secret, name="portal-callback-rotate-secret"
    ),
    path("sandbox/inbound/", views.sandbox_inbound, name="portal-sandbox-inbound"),
]
