"""The project's URLs plus the webhooks app's, until jood/urls.py includes them."""

from django.urls import include, path

from jood.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path("webhooks/", include("webhooks.urls")),
    path("api/v1/", include("webhooks.api_urls")),
    *project_urlpatterns,
]
