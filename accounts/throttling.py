import threading
import time

from django.conf import settings
from django.core.cache import cache as default_cache
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import ApiKey

_client = None


_client_lock = threading.Lock()


def _redis():
    """One client per process, made once (two threads racing here would close each other's pool)."""
    global _client
    if _client is None:
        import redis

        with _client_lock:
            if _client is None:
                _client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    return _client


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
        self.seconds_left = (window + 1) * self.duration - now
        count = self._shared_count(counter)
        return count <= self.num_requests

    def _shared_count(self, counter: str) -> int:
        if settings.REDIS_URL and self.cache is default_cache:
            # One round trip on a client kept for the process: Django's cache makes a new
            # client per call and its add + incr cost three (bench: ~1 ms of a send).
            pipe = _redis().pipeline(transaction=False)
            pipe.incr(counter)
            pipe.expire(counter, int(self.duration) + 1, nx=True)
            return int(pipe.execute()[0])
        self.cache.add(counter, 0, timeout=self.duration + 1)
        try:
            return self.cache.incr(counter)
        except ValueError:  # expired between add and incr
            self.cache.set(counter, 1, timeout=self.duration + 1)
            return 1

    def wait(self):
        return max(1.0, self.seconds_left)
