import time

from django.core.cache import cache as default_cache
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import ApiKey


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Requests per API key; 429 with Retry-After past the rate (API_THROTTLE_RATE).

    A fixed window counted with one atomic increment: DRF's sliding window
    reads and writes the list of every request time in the window, which at
    thousands of requests a minute costs more than the request itself.
    """

    scope = "api_key"
    cache = default_cache

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiKey):
            return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def get_ident(self, request):
        from accounts.services import client_ip

        return client_ip(request) or ""

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        now = time.time()
        window = int(now // self.duration)
        counter = f"{key}:{window}"
        self.cache.add(counter, 0, timeout=self.duration + 1)
        try:
            count = self.cache.incr(counter)
        except ValueError:  # expired between add and incr
            self.cache.set(counter, 1, timeout=self.duration + 1)
            count = 1
        self.seconds_left = (window + 1) * self.duration - now
        return count <= self.num_requests

    def wait(self):
        return max(1.0, self.seconds_left)
