"""Portal pages of provider accounts (mounted under /portal/ by jood/portal_urls.py)."""

from django.urls import path

from providers import views

urlpatterns = [
    path("providers/", views.account_list, name="portal-providers"),
    path("providers/connect/", views.connect_choose, name="portal-provider-connect-choose"),
    path("providers/connect/<str:provider>/", views.connect, name="portal-provider-connect"),
    path("providers/<uuid:public_id>/edit/", views.edit, name="portal-provider-edit"),
    path("providers/<uuid:public_id>/check/", views.check, name="portal-provider-check"),
    path("providers/<uuid:public_id>/active/", views.toggle, name="portal-provider-toggle"),
    path("providers/<uuid:public_id>/rotate-token/", views.rotate_token, name="portal-provider-rotate-token"),
    path("providers/<uuid:public_id>/delete/", views.delete, name="portal-provider-delete"),
]
