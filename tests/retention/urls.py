"""The project's URLs plus the retention app's, for tests until jood/urls.py mounts them.

Portal apps whose pages are not written yet get stand-in routes for the
names the base template links to, so pages render.
"""

from django.http import HttpResponse
from django.urls import include, path

from jood.urls import urlpatterns as project

BASE_TEMPLATE_NAMES = [
    "portal-dashboard",
    "portal-messages",
    "portal-send",
    "portal-bulk",
    "portal-batches",
    "portal-templates",
    "portal-opt-outs",
    "portal-providers",
    "portal-callbacks",
    "portal-api-keys",
    "portal-team",
    "portal-access-log",
    "portal-profile",
    "portal-login",
    "portal-logout",
    "portal-switch-organization",
    "portal-no-organization",
]


def _stand_in(request, *args, **kwargs):
    return HttpResponse("stand-in")


# First, so a real route of the same name (later in the list) wins when reversing.
portal = [path(f"__stand-in__/{name}/", _stand_in, name=name) for name in BASE_TEMPLATE_NAMES]
for module in ("messaging.portal_urls", "accounts.portal_urls", "providers.portal_urls", "webhooks.portal_urls"):
    try:
        portal.append(path("", include(module)))
    except ImportError:
        pass
portal.append(path("", include("retention.portal_urls")))

urlpatterns = [
    path("api/v1/", include("retention.api_urls")),
    path("", include("retention.urls")),
    path("portal/", include(portal)),
    *project,
]
