"""The project's URLs, plus `GET /bench/plain`: a plain Django view, the ceiling of the web scenarios.

Where jood/urls.py does not mount a part the bench measures yet (the provider
intake at /webhooks/, the portal at /portal/), it is mounted here the way its
own urls module says, so the bench measures it ahead of the integration; a
part that cannot be imported is left out and reported as not available.
"""

import logging
from importlib import import_module

from django.urls import Resolver404, include, path, resolve

from bench.plain_app import plain_view
from jood.urls import urlpatterns as project_urlpatterns

log = logging.getLogger(__name__)

urlpatterns = [
    path("bench/plain", plain_view, name="bench-plain"),
    *project_urlpatterns,
]

MOUNTED_BY_BENCH: list[str] = []

for probe, prefix, module in (
    ("/webhooks/twilio/00000000-0000-0000-0000-000000000000/", "webhooks/", "webhooks.urls"),
    ("/portal/messages/", "portal/", "jood.portal_urls"),
):
    try:
        resolve(probe, urlconf="jood.urls")
    except Resolver404:
        try:
            import_module(module)
        except Exception:  # a part still being written: its pages are "not available"
            log.warning("bench: %s cannot be imported; %s is not mounted", module, prefix)
            continue
        urlpatterns.append(path(prefix, include(module)))
        MOUNTED_BY_BENCH.append(prefix)
