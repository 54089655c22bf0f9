"""The WSGI module gunicorn serves in a bench run: the project's Django app with the bench's URLs.

`plain_view` is the ceiling of the web scenarios: a Django view returning a small
JSON document through the same middleware, settings and server as every other
page (bench/urls.py mounts it at /bench/plain). Each answer carries
`X-Bench-Worker: <pid>`, so the bench can read the peak memory of the very
gunicorn worker that handled a request.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import JsonResponse  # noqa: E402


def plain_view(request):
    return JsonResponse({"status": "ok", "service": "jood-notifications", "view": "plain"})


_django = get_wsgi_application()


def application(environ, start_response):
    def start(status, headers, exc_info=None):
        headers.append(("X-Bench-Worker", str(os.getpid())))
        return start_response(status, headers, exc_info)

    return _django(environ, start)
