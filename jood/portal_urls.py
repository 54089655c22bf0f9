"""The customer portal: each app's portal pages, mounted by the project at /portal/."""

from django.urls import include, path

# By name, so the base imports no app; the order is the order URLs are tried in.
PORTAL_APPS = ["messaging", "accounts", "providers", "webhooks", "retention"]

urlpatterns = [path("", include(f"{app}.portal_urls")) for app in PORTAL_APPS]
