"""Per provider account token bucket, counting SMS segments.

With Redis, one bucket per account shared by every worker (a Lua script
makes take-or-wait atomic); in embedded mode, a bucket in this process.
"""

from __future__ import annotations

import threading
import time

from django.conf import settings

_LUA = """
local key = KEYS[1]
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
local state = redis.call('HMGET', key, 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + (now - at) * rate)
local wait = 0
if tokens >= want then
  tokens = tokens - want
else
  wait = (want - tokens) / rate
  tokens = tokens - want
end
redis.call('HSET', key, 'tokens', tokens, 'at', now)
redis.call('EXPIRE', key, 60)
return tostring(wait)
"""

_local: dict[int, tuple[float, float]] = {}
_lock = threading.Lock()
_scripts: dict[int, object] = {}


def _redis_script():
    """The bucket script on REDIS_URL's Redis (jood/coordination.py: bounded by REDIS_SOCKET_TIMEOUT)."""
    from jood import coordination

    client = coordination.client()
    script = _scripts.get(id(client))
    if script is None:
        script = _scripts[id(client)] = client.register_script(_LUA)
    return script


def acquire(account_id: int, rate: float, tokens: int = 1, capacity: float | None = None) -> float:
    """Take `tokens` from the account's bucket; return how long to wait before sending.

    The tokens are reserved even when the caller must wait (the bucket goes
    negative), so concurrent workers queue up fairly instead of all
    retrying at once. A rate of 0 or less means no limit. `capacity` (the
    burst) defaults to one second's worth, or `tokens` if more; negative
    `tokens` give back what a caller reserved and did not use.
    """
    if rate <= 0:
        return 0.0
    capacity = capacity or max(float(rate), float(tokens))
    now = time.time()
    if settings.REDIS_URL:
        try:
            return float(_redis_script()(keys=[f"jood:bucket:{account_id}"], args=[rate, capacity, tokens, now]))
        except Exception:
            pass  # Redis unreachable: fall back to this process's bucket
    with _lock:
        level, at = _local.get(account_id, (capacity, now))
        level = min(capacity, level + (now - at) * rate)
        wait = 0.0 if level >= tokens else (tokens - level) / rate
        _local[account_id] = (level - tokens, now)
    return wait
