"""Settings of a bench run: the project's own, read from the same environment, with the bench's URLs.

`bench/run.py` sets DJANGO_SETTINGS_MODULE=bench.settings for every process it
starts (gunicorn, the Celery worker and beat, its own in-process checks), and
the environment the way production sets it (DEBUG=False, generated secrets,
PostgreSQL and Redis). Nothing else differs from jood/settings.py.
"""

import os

from jood.settings import *  # noqa: F403

# The project's URLs plus the bench's ceiling view (bench/urls.py).
ROOT_URLCONF = os.environ.get("BENCH_ROOT_URLCONF", "bench.urls")
