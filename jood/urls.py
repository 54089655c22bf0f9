from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from jood import views

# Redoc styles itself with <style> elements and renders in a blob: worker: only its page allows them.
# Its template (jood/templates/drf_spectacular/redoc.html) loads no web fonts and has no inline code.
redoc = csp_update({"style-src": [UNSAFE_INLINE], "worker-src": [SELF, "blob:"]})(
    SpectacularRedocView.as_view(url_name="schema")
)

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
    path("", include("operations.urls")),
    path("admin/", admin.site.urls),
    path("webhooks/", include("webhooks.urls")),
    path("portal/", include("jood.portal_urls")),
    path("", include("messaging.download_urls")),
    path("", include("retention.urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", redoc, name="api-docs"),
]

# Errors raised outside a view's own handling: JSON under /api/, the portal's pages elsewhere.
handler400 = "jood.views.bad_request"
handler403 = "jood.views.permission_denied"
handler404 = "jood.views.page_not_found"
handler500 = "jood.views.server_error"
