import logging
import threading
import time

from django.conf import settings
from django.core.cache import cache as default_cache
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import ApiKey
from jood import coordination

log = logging.getLogger(__name__)

# Per-process counters used while the shared cache (Redis) is unreachable.
_local_counts: dict[str, int] = {}
_local_lock = threading.Lock()
_last_warning = [0.0]


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Requests per API key; 429 with Retry-After past the rate (API_THROTTLE_RATE).

    A fixed window counted with one atomic increment: DRF's sliding window
    reads and writes the list of every request time in the window, which at
    thousands of requests a minute costs more than the request itself.

    When the cache (Redis) is down or frozen, the throttle fails open to a
    per-process count of the same rate (each web process lets the full rate
    through, so the effective limit is the rate times the number of
    processes) and logs a warning at most every 10 seconds: the API keeps
    answering instead of a 500, and the cache's short socket timeout
    (REDIS_SOCKET_TIMEOUT) bounds the delay.
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
        try:
            count = self._shared_count(counter)
        except Exception as exc:
            count = self._local_count(counter, window, exc)
        return count <= self.num_requests

    def _shared_count(self, counter: str) -> int:
        if settings.REDIS_URL and self.cache is default_cache:
            # One round trip on a client kept for the process: Django's cache makes a new
            # client per call and its add + incr cost three (bench: ~1 ms of a send).
            pipe = coordination.client().pipeline(transaction=False)
            pipe.incr(counter)
            pipe.expire(counter, int(self.duration) + 1, nx=True)
            return int(pipe.execute()[0])
        self.cache.add(counter, 0, timeout=self.duration + 1)
        try:
            return self.cache.incr(counter)
        except ValueError:  # expired between add and incr
            self.cache.set(counter, 1, timeout=self.duration + 1)
            return 1

    def _local_count(self, counter: str, window: int, exc: Exception) -> int:
        now = time.monotonic()
        with _local_lock:
            if now - _last_warning[0] >= 10:
                _last_warning[0] = now
                log.warning("API throttle: the cache is unreachable (%s); counting per process", exc)
            for stale in [k for k in _local_counts if not k.endswith(f":{window}")]:
                del _local_counts[stale]
            _local_counts[counter] = _local_counts.get(counter, 0) + 1
            return _local_counts[counter]

    def wait(self):
        return max(1.0, self.seconds_left)
