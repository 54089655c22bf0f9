"""The customer portal: each app's portal pages, mounted by the project at /portal/."""

from django.urls import include, path

urlpatterns = [
    path("", include("messaging.portal_urls")),
    path("", include("accounts.portal_urls")),
    path("", include("providers.portal_urls")),
    path("", include("webhooks.portal_urls")),
    path("", include("retention.portal_urls")),
]
