"""gunicorn settings for the web process (`gunicorn --config deploy/gunicorn.conf.py jood.wsgi`).

Sync workers: every request is short (a send is one transaction, the broker
only a hint). Scale with more workers per machine (WEB_CONCURRENCY, about two
per core) and more machines behind the load balancer.
"""

import os

bind = os.environ.get("BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
timeout = 30
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then (a leak never grows for ever).
max_requests = 10000
max_requests_jitter = 1000
accesslog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
