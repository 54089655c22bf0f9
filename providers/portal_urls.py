"""Portal pages of provider accounts (mounted under /portal/ by jood/portal_urls.py)."""

from django.urls import include, path

from providers import views

account_urls = [
    path("edit/", views.edit, name="portal-provider-edit"),
    path("check/", views.check, name="portal-provider-check"),
    path("active/", views.toggle, name="portal-provider-toggle"),
    path("rotate-token/", views.rotate_token, name="portal-provider-rotate-token"),
    path("delete/", views.delete, name="portal-provider-delete"),
]

urlpatterns = [
    path("providers/", views.account_list, name="portal-providers"),
    path("providers/connect/", views.connect_choose, name="portal-provider-connect-choose"),
    path("providers/connect/<str:provider>/", views.connect, name="portal-provider-connect"),
    path("providers/<uuid:public_id>/", include(account_urls)),
]
