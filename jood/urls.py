from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from jood import views
from messaging import media_urls

api_v1 = [
    path("", include("accounts.api_urls")),
    path("", include("messaging.api_urls")),
    path("", include("providers.api_urls")),
    path("", include("webhooks.api_urls")),
    path("", include("messaging.media_urls")),
    path("", include("retention.api_urls")),
]

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("healthz/ready", views.healthz_ready, name="healthz-ready"),
    path("metrics", views.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("webhooks/", include("webhooks.urls")),
    path("portal/", include("jood.portal_urls")),
    path("", include(media_urls.download_urlpatterns)),
    path("", include("retention.urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularRedocView.as_view(url_name="schema"), name="api-docs"),
]
