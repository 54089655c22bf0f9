"""Settings for Jood Notifications, read from the environment.

Every value has a laptop default; the README lists what production sets.
"""

import json
import secrets
from pathlib import Path

import environ
from cryptography.fernet import Fernet
from csp import constants as csp_constants

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env(VAR_DIR=(str, str(BASE_DIR / "var")))("VAR_DIR"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env(
    DEBUG=(bool, True),
    ALLOWED_HOSTS=(list, ["localhost", "127.0.0.1", "[::1]", "testserver"]),
    CSRF_TRUSTED_ORIGINS=(list, []),
    PORT=(int, 8000),
    MESSAGE_LOG_RETENTION_DAYS=(int, 90),
    ACCESS_LOG_RETENTION_DAYS=(int, 365),
    TIME_ZONE=(str, "UTC"),
    REDIS_URL=(str, ""),
    SECURE_SSL_REDIRECT=(bool, True),
    SECURE_HSTS_SECONDS=(int, 31536000),
    API_THROTTLE_RATE=(str, "6000/min"),
    CALLBACKS_ALLOW_PRIVATE=(bool, False),
    PURGE_TIME_BUDGET_SECONDS=(int, 600),
    EMAIL_URL=(str, "consolemail://"),
    DEFAULT_FROM_EMAIL=(str, "Jood Notifications <no-reply@localhost>"),
    LOG_LEVEL=(str, "INFO"),
)

DEBUG = env("DEBUG")


def _laptop_secrets() -> dict:
    """Return secrets generated once into var/secrets.json (ignored by git).

    Only used with DEBUG on; production must give them in the environment.
    """
    path = VAR_DIR / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    values = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }
    path.write_text(json.dumps(values))
    path.chmod(0o600)
    return values


if DEBUG:
    _generated = _laptop_secrets()
    SECRET_KEY = env("SECRET_KEY", default=_generated["SECRET_KEY"])
    _field_keys = env("FIELD_ENCRYPTION_KEY", default=_generated["FIELD_ENCRYPTION_KEY"])
else:
    SECRET_KEY = env("SECRET_KEY")
    _field_keys = env("FIELD_ENCRYPTION_KEY")

# Several keys, comma separated, newest first: data is encrypted with the first
# and decrypted with any (MultiFernet). `manage.py rotate_encryption_keys`
# re-encrypts every credential with the first.
FIELD_ENCRYPTION_KEY = [k.strip() for k in _field_keys.split(",") if k.strip()]

ALLOWED_HOSTS = env("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env("CSRF_TRUSTED_ORIGINS")
# The address providers and browsers reach; on a laptop it follows PORT (`PORT=8001 make run`),
# so the webhook URLs shown in the portal point at the port actually served.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default=f"http://localhost:{env('PORT')}").rstrip("/")
MESSAGE_LOG_RETENTION_DAYS = env("MESSAGE_LOG_RETENTION_DAYS")
ACCESS_LOG_RETENTION_DAYS = env("ACCESS_LOG_RETENTION_DAYS")
PURGE_TIME_BUDGET_SECONDS = env("PURGE_TIME_BUDGET_SECONDS")
# Tunables, each defined once here: name: (type, default), read from the environment
# variable of the same name (README "Settings"). Call sites read `settings.NAME`.
_tunables = {
    # The region of a number searched for without its country code (050…), for an
    # organization that has not set its own country.
    "PHONE_DEFAULT_REGION": (str, "SA"),
    # Privacy: the policy's version (its "Last updated" date; users accept a new
    # one at their next login), how long an export can be downloaded, and the
    # grace period before a deleted organization's data is erased.
    "PRIVACY_POLICY_VERSION": (str, "2026-11-01"),
    "DATA_EXPORT_HOURS": (int, 24),
    "ORGANIZATION_DELETION_GRACE_DAYS": (int, 7),
    # Who answers privacy requests: named on the policy page and during a deletion's grace period.
    "PRIVACY_CONTACT_EMAIL": (str, "privacy@localhost"),
    # How long a worker's claim on a message lasts before the sweeper hands it
    # to another worker (a killed worker's messages come back after this).
    "DISPATCH_LEASE_SECONDS": (int, 120),
    # Queued messages older than this with no retry pending are published again.
    "SWEEPER_QUEUED_AGE_SECONDS": (int, 60),
    # The dispatch engine (messaging/dispatch.py, README "Dispatch"): lanes (queues
    # dispatch.0..N-1 by a hash of the provider account), messages claimed and recorded
    # together, requests in flight at once per worker process, drains at once per lane.
    "DISPATCH_LANES": (int, 4),
    "DISPATCH_CHUNK_SIZE": (int, 100),
    "DISPATCH_CONCURRENCY": (int, 32),
    "DISPATCH_LANE_DRAINS": (int, 2),
    "DISPATCH_DRAIN_SECONDS": (int, 60),
    # A send that timed out waiting for the answer is held this long for a callback
    # carrying our id before it goes out again.
    "DISPATCH_RECONCILE_MINUTES": (float, 10.0),
    # A message keeps retrying (backoff, fail-over) for this long, then fails.
    "DISPATCH_RETRY_BUDGET_HOURS": (float, 24.0),
    # Failures in our own code before a message fails with `internal_error`.
    "DISPATCH_MAX_INTERNAL_ERRORS": (int, 5),
    # Longest wait for an account's rate limit; past it the chunk is released, not slept on.
    "DISPATCH_MAX_RATE_WAIT_SECONDS": (float, 10.0),
    # A lane is woken at most once per this many milliseconds: a burst of sends is one wake-up.
    "DISPATCH_WAKE_MS": (int, 500),
    # Sends in a row that failed to connect before an account is marked unreachable.
    "ACCOUNT_UNHEALTHY_AFTER": (int, 5),
    # After a rotation, the old webhook token (Infobip/Unifonic `?t=`) and the old
    # callback signing secret stay valid this long (callbacks are signed with both).
    "SECRET_ROTATION_GRACE_HOURS": (int, 24),
    # Media files (messaging/media_api.py): what one organization may store in all,
    # and how long a file no message uses is kept before the purge removes it.
    "MEDIA_QUOTA_BYTES": (int, 500 * 1024 * 1024),
    "MEDIA_UNREFERENCED_DAYS": (int, 30),
    # Login throttling (accounts/login_throttle.py): failed logins per account and
    # per client address in a window of LOGIN_THROTTLE_SECONDS; past either, logins
    # are refused until the window ends.
    "LOGIN_FAILURES_PER_ACCOUNT": (int, 10),
    "LOGIN_FAILURES_PER_IP": (int, 30),
    "LOGIN_THROTTLE_SECONDS": (int, 900),
    # Behind a proxy that sets X-Forwarded-Proto/Host, verify Twilio's signature
    # over the URL the provider saw (only when the proxy overwrites those headers).
    "WEBHOOKS_TRUST_FORWARDED_HEADERS": (bool, False),
    # API keys are looked up once per this many seconds per web process: a revocation reaches
    # every process within it. API key use is counted in memory and written every few seconds.
    "API_KEY_CACHE_SECONDS": (float, 5.0),
    "API_KEY_USAGE_FLUSH_SECONDS": (float, 10.0),
    # Provider callbacks are applied in batches by a drain woken at most once per this many seconds.
    "WEBHOOK_DRAIN_INTERVAL": (float, 0.5),
    # The intake looks a provider account up once per this many seconds per web process.
    "WEBHOOK_ACCOUNT_CACHE_SECONDS": (float, 5.0),
}
globals().update({name: env.get_value(name, cast, default) for name, (cast, default) in _tunables.items()})
# Pauses between tries to record a chunk's outcomes over a lost database connection.
DISPATCH_RECORD_RETRY_DELAYS = tuple(env.list("DISPATCH_RECORD_RETRY_DELAYS", cast=float, default=[0.2, 0.5, 1.0, 2.0]))
# Outbound requests (provider APIs, customer callbacks) to loopback/private
# addresses: only for tests, local development and the bench's mock provider.
# CALLBACKS_ALLOW_PRIVATE is the old name, still read (jood/outbound.py).
CALLBACKS_ALLOW_PRIVATE = env("CALLBACKS_ALLOW_PRIVATE")
OUTBOUND_ALLOW_PRIVATE = env.bool("OUTBOUND_ALLOW_PRIVATE", default=CALLBACKS_ALLOW_PRIVATE)
# How many proxies (load balancers) in front of the app append to
# X-Forwarded-For: the client's address is read that many entries from the
# end (accounts.services.client_ip). 0: the peer's address, the header ignored.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# The plain ModelBackend stays listed for sessions that name it (force_login, older sessions).
AUTHENTICATION_BACKENDS = [
    "accounts.login_throttle.ThrottledModelBackend",
    "django.contrib.auth.backends.ModelBackend",
]

INSTALLED_APPS = [
    "jood.admin_site.AdminConfig",  # django.contrib.admin with the console's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "jood",
    "accounts",
    "providers",
    "messaging",
    "webhooks",
    "retention",
    "operations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "jood.middleware.RequestGuardMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.TimeZoneMiddleware",
    "retention.middleware.PrivacyConsentMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so it sees every view's exception: a dependency that is down answers 503, not 500.
    "jood.middleware.ServiceUnavailableMiddleware",
]

ROOT_URLCONF = "jood.urls"
WSGI_APPLICATION = "jood.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "jood" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "providers.context_processors.account_health",
                "messaging.context_processors.inbox",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'jood.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Embedded mode: the web server, the worker thread and the tests share one
    # file; WAL and a busy timeout keep writers from failing on a lock.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    # A pooled connection that PostgreSQL (or PgBouncer) closed, after a restart
    # or a failover, is checked before the request uses it and replaced.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Behind PgBouncer in transaction mode a server-side cursor (what
    # `.iterator()` opens) cannot live across transactions: turn them off there.
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool("DISABLE_SERVER_SIDE_CURSORS", default=False)
    # Fail fast when the database is unreachable instead of hanging a request.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5)
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/portal/login/"
LOGIN_REDIRECT_URL = "/portal/"
LOGOUT_REDIRECT_URL = "/portal/login/"
# Who works in which organization, with what role, for the portal's base view (jood/portal.py).
PORTAL_ACCESS = "accounts.portal"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_URL = "media/"
MEDIA_ROOT = VAR_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

EMAIL_CONFIG = env.email_url("EMAIL_URL")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL")

# --- Cache, broker and Celery -------------------------------------------------
REDIS_URL = env("REDIS_URL")
# The broker can be its own server (Redis or RabbitMQ: amqp://user:pass@host/vhost);
# it defaults to REDIS_URL. Without either, embedded mode.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or REDIS_URL
# Seconds a cache or Redis call may take before the request goes on without it
# (a frozen Redis must not hang requests: throttling fails open, see accounts/throttling.py).
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=0.5)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": REDIS_SOCKET_TIMEOUT, "socket_timeout": REDIS_SOCKET_TIMEOUT},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "jood"}}
if CELERY_BROKER_URL:
    CELERY_TASK_ALWAYS_EAGER = False
else:
    # Embedded mode: no broker. Tasks run in the process that publishes them,
    # after the transaction commits (see jood/celery.py); the sweeper and the
    # purge run from `manage.py run_embedded_scheduler`, which `make run` starts.
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True
    CELERY_TASK_EAGER_PROPAGATES = False

CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "jood.beat:HeartbeatScheduler"
# Longer than any task (the purge stops at its time budget): a task that is
# still running is never handed to a second worker.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600,
    # Redis: a frozen server must not hang a publish (or a worker) for ever.
    "socket_timeout": 2,
    "socket_connect_timeout": 2,
}
# Workers (and beat) reconnect to the broker for ever, at start-up and after
# an outage: None means "no limit" to kombu, 0 would mean "never reconnect".
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# A publish still fails fast when the broker is down (no publish retry, short
# connect timeout): the row is the truth and the sweeper finds it again.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY = False
# Beat records a heartbeat row on its ticks (jood/beat.py); /healthz/ready reads it.
DJANGO_CELERY_BEAT_TZ_AWARE = True

# --- Health and metrics -------------------------------------------------------
# celery-beat records a heartbeat this often (jood/beat.py); /healthz/ready turns
# 503 when one of these figures is over its threshold (seconds or counts).
BEAT_HEARTBEAT_SECONDS = env.int("BEAT_HEARTBEAT_SECONDS", default=15)
READY_BEAT_MAX_AGE_SECONDS = env.int("READY_BEAT_MAX_AGE_SECONDS", default=60)
READY_OLDEST_DUE_QUEUED_SECONDS = env.int("READY_OLDEST_DUE_QUEUED_SECONDS", default=300)
READY_EXPIRED_LEASES_MAX = env.int("READY_EXPIRED_LEASES_MAX", default=100)
READY_WEBHOOK_BACKLOG_MAX = env.int("READY_WEBHOOK_BACKLOG_MAX", default=10000)
READY_WEBHOOK_OLDEST_SECONDS = env.int("READY_WEBHOOK_OLDEST_SECONDS", default=300)
READY_CALLBACK_BACKLOG_MAX = env.int("READY_CALLBACK_BACKLOG_MAX", default=10000)
# /metrics (Prometheus): scrapers send `Authorization: Bearer <METRICS_TOKEN>`;
# empty (the default) turns the endpoint off (404).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# --- API ------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.IsOrganizationMember"],
    "DEFAULT_PAGINATION_CLASS": "jood.api.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "jood.schema.AutoSchema",
    "EXCEPTION_HANDLER": "jood.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["accounts.throttling.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": env("API_THROTTLE_RATE")},
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "jood.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Jood Notifications API",
    "DESCRIPTION": (
        "Send SMS and WhatsApp messages through your own provider accounts and track each to its final status."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Redoc and Swagger UI from our own static files (drf-spectacular-sidecar), never a CDN.
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# --- Security -------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "jood.views.csrf_failure"  # the portal's 403 page, not Django's (inline-styled) one
# X-Forwarded-Proto says whether the client used https; anyone can send it, so it
# is believed only behind a proxy that overwrites it (by default: when
# TRUSTED_PROXY_COUNT says there is one).
TRUST_X_FORWARDED_PROTO = env.bool("TRUST_X_FORWARDED_PROTO", default=TRUSTED_PROXY_COUNT > 0)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUST_X_FORWARDED_PROTO else None
# Preloading asks browsers to ship the domain as https-only: a commitment for
# every subdomain that is hard to take back, hence a setting.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
if not SECURE_HSTS_PRELOAD:
    SILENCED_SYSTEM_CHECKS = ["security.W021"]  # a deliberate choice, not an oversight
if not DEBUG:
    SECURE_SSL_REDIRECT = env("SECURE_SSL_REDIRECT")
    SECURE_HSTS_SECONDS = env("SECURE_HSTS_SECONDS")
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # /healthz is probed over plain HTTP by load balancers.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^healthz/ready$", r"^metrics$"]

# Content-Security-Policy (django-csp) on every response: scripts and styles from
# our own static files only, no inline code; the API docs (Redoc) add what they
# need in their own view (jood/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp_constants.SELF],
        "script-src": [csp_constants.SELF],
        "style-src": [csp_constants.SELF],
        "img-src": [csp_constants.SELF, "data:"],
        "font-src": [csp_constants.SELF],
        "connect-src": [csp_constants.SELF],
        "object-src": [csp_constants.NONE],
        "base-uri": [csp_constants.SELF],
        "form-action": [csp_constants.SELF],
        "frame-ancestors": [csp_constants.NONE],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
