"""PyTake settings, all driven by the environment (see README, "Configuration").

With no environment set, PyTake runs embedded in one process: SQLite, the in-memory channel
layer, eager Celery. ``DATABASE_URL`` switches to PostgreSQL; ``REDIS_URL`` switches the channel
layer, the Celery broker and the cache to Redis. ``PYTAKE_SIMULATOR`` installs the WhatsApp Cloud
API simulator (``make run`` and the tests do).
"""

import re
from datetime import timedelta
from pathlib import Path

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from pytake.env import env_bool, env_float, env_int, env_list, env_str
from pytake.logging import logging_config

# Lets annotations such as ModelAdmin[Tenant] work at run time too.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("PYTAKE_DATA_DIR", str(BASE_DIR / "var")))

# --- Core -------------------------------------------------------------------------------------

DEBUG = env_bool("DJANGO_DEBUG", False)

# The development key is public: it is refused whenever DEBUG is off.
DEV_SECRET_KEY = "pytake-dev-secret-key-do-not-use-in-production"
SECRET_KEY = env_str("DJANGO_SECRET_KEY", DEV_SECRET_KEY if DEBUG else "")
if not DEBUG and (not SECRET_KEY or SECRET_KEY == DEV_SECRET_KEY):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set to a private value when DJANGO_DEBUG is off "
        "(for local development, set DJANGO_DEBUG=1 or use `make run`)."
    )

# Fernet keys for secrets stored in the database (pytake/crypto.py): the first encrypts, all
# decrypt. Unset: a key derived from SECRET_KEY.
PYTAKE_SECRETS_KEY = env_list("PYTAKE_SECRETS_KEY", [])

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
# Browser origins allowed to open /ws/ (besides same-host origins from ALLOWED_HOSTS).
PYTAKE_WS_ALLOWED_ORIGINS = env_list("PYTAKE_WS_ALLOWED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "pytake.apps.SuperuserAdminConfig",  # django.contrib.admin, for superusers only
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "axes",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from here: /api/docs/ needs no CDN
    "channels",
    # The layers, bottom up (docs/architecture.md): the domain, real time, the service flow, channels.
    "conversations",
    "accounts",
    "realtime",
    "flow",
    "flow.bot",
    "webchat",
    "whatsapp",
    "pytake.apps.OpsConfig",
]

# The WhatsApp Cloud API simulator and its phone page (simulator/): off unless asked for. Anyone
# who can reach it can read every tenant's customers and what agents write to them, and write as
# any customer; installed, it adds its URLs, its socket and its tables. With DEBUG off it is
# refused unless PYTAKE_SIMULATOR_IN_PRODUCTION says so too (then start-up logs a warning).
PYTAKE_SIMULATOR = env_bool("PYTAKE_SIMULATOR", False)
PYTAKE_SIMULATOR_IN_PRODUCTION = env_bool("PYTAKE_SIMULATOR_IN_PRODUCTION", False)
if PYTAKE_SIMULATOR:
    if not DEBUG and not PYTAKE_SIMULATOR_IN_PRODUCTION:
        raise ImproperlyConfigured(
            "PYTAKE_SIMULATOR is on with DJANGO_DEBUG off: the Cloud API simulator lets anyone who "
            "reaches it read and write every tenant's WhatsApp conversations. Turn it off, or set "
            "PYTAKE_SIMULATOR_IN_PRODUCTION=1 as well on a server nobody else can reach."
        )
    INSTALLED_APPS.append("simulator")

MIDDLEWARE = [
    # First, so every later log line carries the request id and every response is counted.
    "pytake.logging.RequestContextMiddleware",
    "pytake.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "pytake.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: refuses admin logins of a locked-out account or address.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "pytake.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "pytake.asgi.application"
# Wraps every WebSocket route (each installed app's ``routing.websocket_urlpatterns``): resolves
# the token of a connecting socket into its user, tenant and role.
PYTAKE_WEBSOCKET_AUTH_MIDDLEWARE = "realtime.auth.JWTAuthMiddleware"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Data -------------------------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    # Under ASGI every request's sync code runs in a thread of its own (asgiref's per-request
    # ThreadSensitiveContext): with persistent connections a burst of 40 concurrent requests left
    # 40 connections open after it (tests/ops/test_database_connections.py), and bursts ran
    # PostgreSQL out of connections ("too many clients"). Django: "when using ASGI, persistent
    # connections should be disabled". A sync-only process (the Celery worker) keeps them (60 s).
    _conn_max_age = env_int("DATABASE_CONN_MAX_AGE", 0)
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=_conn_max_age, conn_health_checks=True)}
    # So the servers pool their connections instead (psycopg_pool, through Django): a request or a
    # WebSocket connect that touches the database takes a connection that is already open and
    # gives it back when it is done, instead of connecting (~1 ms of server CPU and a PostgreSQL
    # backend process each: 12-16 % of a webhook's server CPU). Off where connections persist.
    _pool_size = env_int("DATABASE_POOL_MAX_SIZE", 20 if _conn_max_age == 0 else 0)
    if _pool_size > 0 and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # With CONN_HEALTH_CHECKS, Django has the pool check each connection as it lends it.
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": min(2, _pool_size),
            "max_size": _pool_size,
            "timeout": env_float("DATABASE_POOL_TIMEOUT", 10.0),
        }
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DATA_DIR / "pytake.sqlite3"),
        }
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite serialises writers: a writer waits for the one before it (busy timeout, in seconds)
    # instead of failing with "database is locked"; transactions take the write lock when they
    # begin (IMMEDIATE), as a reader upgraded to a writer mid-transaction cannot wait; WAL: readers
    # (the server's threads, the simulator's) never wait for a writer. Also for a sqlite:// URL.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "conversations.User"

REDIS_URL = env_str("REDIS_URL", "")

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CHANNEL_LAYERS = {
        "default": {
            # The pub/sub layer: 2.9-3.7x less server CPU per delivered event than the core layer in
            # the fan-out bench (docs/benchmarks.md). It queues nothing for a process that is down;
            # the event log and resume cover that, as they cover the core layer's drops.
            "BACKEND": env_str("PYTAKE_CHANNEL_LAYER", "channels_redis.pubsub.RedisPubSubChannelLayer"),
            "CONFIG": {
                "hosts": [REDIS_URL],
                "prefix": env_str("PYTAKE_CHANNEL_PREFIX", "pytake"),
                "capacity": env_int("PYTAKE_CHANNEL_CAPACITY", 1000),
                # A process's hub channel carries every event of the process (realtime.hub). The
                # core layer keeps all of a process's channels in one Redis key ("specific.…!"),
                # the hub's included, so there they share its capacity.
                "channel_capacity": {"realtime.hub*": 100_000, "specific.*": 100_000},
                "expiry": 60,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {
                "capacity": env_int("PYTAKE_CHANNEL_CAPACITY", 1000),
                # Channels' in-memory layer uses this as given (channels_redis compiles its dict).
                "channel_capacity": [(re.compile(r"realtime\.hub\."), 100_000)],
            },
        }
    }

# --- Celery -----------------------------------------------------------------------------------

# Eager (no Redis), tasks never reach the broker; kombu still builds a connection, and one with no
# hostname logs "No hostname was supplied" on the first task: name one.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "memory://localhost/")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    # The service flow's clocks (flow/tasks.py).
    "queue-sweep": {"task": "conversations.queue_sweep", "schedule": 30.0},
    "auto-resolve": {"task": "conversations.auto_resolve", "schedule": 300.0},
    "requeue-absent-agents": {"task": "conversations.requeue_absent_agents", "schedule": 60.0},
    "wake-snoozed": {"task": "flow.wake_snoozed", "schedule": 60.0},
    "prune-event-log": {"task": "realtime.tasks.prune_events", "schedule": 15 * 60.0},
    "requeue-stale-webhooks": {"task": "whatsapp.requeue_stale_webhooks", "schedule": 60.0},
    "requeue-stale-sends": {"task": "whatsapp.requeue_stale_sends", "schedule": 60.0},
    # Meta's webhooks keep template statuses current; this catches what they missed.
    "sync-whatsapp-templates": {
        "task": "whatsapp.sync_all_templates",
        "schedule": env_float("WHATSAPP_TEMPLATE_SYNC_SECONDS", 6 * 3600.0),
    },
}
# Keep Django's LOGGING (JSON lines, request context) in the worker instead of Celery's own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Called in every worker process before its first task (pytake/celery.py).
PYTAKE_WORKER_INIT = ["realtime.events.use_publish_loop"]
# Shutdown with REMAP_SIGTERM=SIGQUIT (deploy/ sets it): running tasks get this many seconds to
# finish, then the unfinished ones are requeued (acks_late) and the worker exits.
CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT = env_float("CELERY_SOFT_SHUTDOWN_TIMEOUT", 8.0)

# --- Auth -------------------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Reverse proxies in front of the ASGI server, each adding the address it received from to
# X-Forwarded-For: the client is the N-th entry from the right (pytake/client_address.py). 0 (the
# default: reached directly) ignores the header; the shipped nginx is 1 (deploy/stack.py,
# docker-compose.yml). Too high lets a client choose its address; see docs/security.md.
PYTAKE_TRUSTED_PROXIES = env_int("PYTAKE_TRUSTED_PROXIES", 0)
if PYTAKE_TRUSTED_PROXIES < 0:
    raise ImproperlyConfigured("PYTAKE_TRUSTED_PROXIES must be 0 or more")

AUTHENTICATION_BACKENDS = [
    # Refuses a locked-out account or address before any password is checked (admin only).
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# django-axes: the Django admin's login is locked for an account, and for a client address, after
# AXES_FAILURE_LIMIT failures, for AXES_COOLOFF_TIME. Attempts and lockouts are rows shown in the
# admin (Axes) and log lines (logger "axes" and "pytake.security"). The API login has its own
# throttle per address (REST_FRAMEWORK below).
AXES_ONLY_ADMIN_SITE = True
AXES_FAILURE_LIMIT = env_int("PYTAKE_ADMIN_LOGIN_FAILURES", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("PYTAKE_ADMIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one, on its own
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_CLIENT_IP_CALLABLE = "pytake.client_address.client_address_of_request"
AXES_USERNAME_CALLABLE = "pytake.client_address.login_username"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["conversations.permissions.IsTenantStaff"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "pytake.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_THROTTLE_RATES": {
        "login": env_str("PYTAKE_LOGIN_THROTTLE", "10/min"),
        "user": env_str("PYTAKE_USER_THROTTLE", "600/min"),
        # Public web-chat session creation, per client address.
        "webchat_session": env_str("PYTAKE_WEBCHAT_SESSION_THROTTLE", "10/min"),
    },
    "DEFAULT_THROTTLE_CLASSES": ["pytake.throttling.UserThrottle"],
    # DRF's own three, JSON with its nesting bounded (pytake/jsonsafe.py).
    "DEFAULT_PARSER_CLASSES": [
        "pytake.jsonsafe.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # For any DRF throttle not of pytake.throttling (whose address is pytake.client_address's).
    "NUM_PROXIES": PYTAKE_TRUSTED_PROXIES,
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "SIGNING_KEY": env_str("JWT_SIGNING_KEY", SECRET_KEY),
    "TOKEN_OBTAIN_SERIALIZER": "conversations.auth.TokenObtainPairSerializer",
    # A password change revokes every token issued before it (REST and WebSocket).
    "CHECK_REVOKE_TOKEN": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "PyTake API",
    "DESCRIPTION": "Multi-tenant real-time customer-service inbox for WhatsApp and web chat.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from drf-spectacular-sidecar's static files, not a CDN: the docs work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Two "status" choice sets (a conversation's, a message's): each its own component name.
    "ENUM_NAME_OVERRIDES": {
        "ConversationStatusEnum": "conversations.models.ConversationStatus",
        "MessageStatusEnum": "conversations.models.MessageStatus",
        "ChannelEnum": "conversations.models.Channel",
        "MessageTypeEnum": "conversations.models.MessageType",
    },
}

# --- WhatsApp ---------------------------------------------------------------------------------

# Empty means Meta's (https://graph.facebook.com), or, where the simulator is installed, the
# simulator on this server (PYTAKE_PUBLIC_URL + /simulator/graph).
WHATSAPP_GRAPH_BASE_URL = env_str("WHATSAPP_GRAPH_BASE_URL", "")
# Meta's current version (v21.0 is retired on 2027-01-21); each version lives about two years.
WHATSAPP_GRAPH_API_VERSION = env_str("WHATSAPP_GRAPH_API_VERSION", "v26.0")
# Meta's webhook deliveries can reach 3 MB; a larger limit than that only invites abuse.
WHATSAPP_WEBHOOK_MAX_BYTES = env_int("WHATSAPP_WEBHOOK_MAX_BYTES", 3 * 1024 * 1024)
# A send refused for the spam rate limit (131048) waits at least this long, times the attempt.
WHATSAPP_SPAM_LIMIT_RETRY_SECONDS = env_int("WHATSAPP_SPAM_LIMIT_RETRY_SECONDS", 600)
WHATSAPP_HTTP_TIMEOUT = env_float("WHATSAPP_HTTP_TIMEOUT", 10.0)
# Where the simulator posts its signed status callbacks (PyTake's own webhook by default).
PYTAKE_PUBLIC_URL = env_str("PYTAKE_PUBLIC_URL", "http://127.0.0.1:8000")
WHATSAPP_MEDIA_MAX_BYTES = env_int("WHATSAPP_MEDIA_MAX_BYTES", 100 * 1024 * 1024)
# A stored webhook still unprocessed after this long is enqueued again (its worker died).
WHATSAPP_STALE_WEBHOOK_SECONDS = env_int("WHATSAPP_STALE_WEBHOOK_SECONDS", 180)
# An outbound message still pending (never handed to the Graph API) after this long is enqueued
# again (the broker was down when it was saved, or its task was lost); after a day it fails.
WHATSAPP_SEND_STALE_SECONDS = env_int("WHATSAPP_SEND_STALE_SECONDS", 120)
# A send whose Graph API call may have gone through with its answer lost (a read timeout) is tried
# again only after this long, and only if no status webhook named the message meanwhile (each
# message carries its id in biz_opaque_callback_data; Meta reports "sent" within seconds): the
# Cloud API has no idempotency key, and sending again at once could deliver it twice.
WHATSAPP_SEND_UNCONFIRMED_SECONDS = env_int("WHATSAPP_SEND_UNCONFIRMED_SECONDS", 60)
# Celery queue of the WhatsApp tasks (empty: Celery's default queue).
WHATSAPP_CELERY_QUEUE = env_str("WHATSAPP_CELERY_QUEUE", "")
# The Cloud API simulator (PYTAKE_SIMULATOR): where it posts its webhooks (empty: PYTAKE_PUBLIC_URL).
WHATSAPP_SIMULATOR_WEBHOOK_URL = env_str("WHATSAPP_SIMULATOR_WEBHOOK_URL", "")
# Seconds after accepting a message at which the simulator reports sent, delivered, read.
WHATSAPP_SIMULATOR_STATUS_DELAYS = env_str("WHATSAPP_SIMULATOR_STATUS_DELAYS", "0.5,1.5,3")
# Simulator realism: how many times a failing webhook is delivered (Meta keeps trying for days)
# and the longest wait between two tries; the chance a status callback is skipped, repeated or
# comes before an earlier one (0: in order, once each).
WHATSAPP_SIMULATOR_REDELIVERY_ATTEMPTS = env_int("WHATSAPP_SIMULATOR_REDELIVERY_ATTEMPTS", 12)
WHATSAPP_SIMULATOR_REDELIVERY_MAX_DELAY = env_int("WHATSAPP_SIMULATOR_REDELIVERY_MAX_DELAY", 300)
WHATSAPP_SIMULATOR_STATUS_CHAOS = env_float("WHATSAPP_SIMULATOR_STATUS_CHAOS", 0.0)
WHATSAPP_SIMULATOR_FAILURE_RATE = env_float("WHATSAPP_SIMULATOR_FAILURE_RATE", 0.0)
# As Meta: free-form messages to a customer who has not written in 24 hours fail (131047).
WHATSAPP_SIMULATOR_ENFORCE_WINDOW = env_bool("WHATSAPP_SIMULATOR_ENFORCE_WINDOW", True)

# --- Real time --------------------------------------------------------------------------------

PYTAKE_EVENT_RETENTION_HOURS = env_int("PYTAKE_EVENT_RETENTION_HOURS", 24)
PYTAKE_RESUME_OVERLAP = env_int("PYTAKE_RESUME_OVERLAP", 20)
PYTAKE_RESUME_MAX_EVENTS = env_int("PYTAKE_RESUME_MAX_EVENTS", 5000)
PYTAKE_WS_HEARTBEAT_SECONDS = env_float("PYTAKE_WS_HEARTBEAT_SECONDS", 25.0)
PYTAKE_WS_MAX_PER_USER = env_int("PYTAKE_WS_MAX_PER_USER", 5)
PYTAKE_WS_MAX_FRAME_BYTES = env_int("PYTAKE_WS_MAX_FRAME_BYTES", 64 * 1024)
# Bytes of frames waiting for one WebSocket client before it is closed with 1013 (a client that
# stopped reading); it reconnects and resumes. realtime.hub enforces it, and daphne's server class.
PYTAKE_WS_MAX_SEND_BUFFER = env_int("PYTAKE_WS_MAX_SEND_BUFFER", 4 * 1024 * 1024)
# realtime.hub: a socket whose frames wait longer than this, or pile up past this many, is closed
# with 1013 (it reconnects and resumes) so that it cannot hold memory or other sockets up.
PYTAKE_WS_SEND_TIMEOUT_SECONDS = env_float("PYTAKE_WS_SEND_TIMEOUT_SECONDS", 10.0)
PYTAKE_WS_SEND_BACKLOG = env_int("PYTAKE_WS_SEND_BACKLOG", 1000)
PYTAKE_WS_MAX_JOINED = env_int("PYTAKE_WS_MAX_JOINED", 50)
PYTAKE_WS_RATE = env_float("PYTAKE_WS_RATE", 20.0)
PYTAKE_WS_BURST = env_int("PYTAKE_WS_BURST", 40)
PYTAKE_WS_ABUSE_LIMIT = env_int("PYTAKE_WS_ABUSE_LIMIT", 20)
PYTAKE_TYPING_TIMEOUT_SECONDS = env_float("PYTAKE_TYPING_TIMEOUT_SECONDS", 6.0)
PYTAKE_PRESENCE_PREFIX = env_str("PYTAKE_PRESENCE_PREFIX", "pytake:presence")
# Redis connections a server process's presence registry uses at most (commands wait for one).
PYTAKE_REGISTRY_REDIS_CONNECTIONS = env_int("PYTAKE_REGISTRY_REDIS_CONNECTIONS", 16)
# Connects and disconnects within this window are announced to the tenant as one `presence` frame.
PYTAKE_PRESENCE_BATCH_SECONDS = env_float("PYTAKE_PRESENCE_BATCH_SECONDS", 0.5)
# ...a window stretched, for a tenant with many staff sockets in one process, so that presence
# frames reach at most about this many of its sockets per second (0: never stretched).
PYTAKE_PRESENCE_FANOUT_PER_SECOND = env_float("PYTAKE_PRESENCE_FANOUT_PER_SECOND", 2000.0)
PYTAKE_WEBCHAT_TOKEN_MINUTES = env_int("PYTAKE_WEBCHAT_TOKEN_MINUTES", 120)

# --- Service flow: bot, queue, assignment, web chat ------------------------------------------

# An OpenAI-compatible chat endpoint for tenants whose bot engine is "llm" (empty: rules only).
PYTAKE_BOT_LLM_URL = env_str("PYTAKE_BOT_LLM_URL", "")
PYTAKE_BOT_LLM_MODEL = env_str("PYTAKE_BOT_LLM_MODEL", "gpt-4o-mini")
PYTAKE_BOT_LLM_API_KEY = env_str("PYTAKE_BOT_LLM_API_KEY", "")
PYTAKE_BOT_LLM_TIMEOUT = env_float("PYTAKE_BOT_LLM_TIMEOUT", 8.0)
PYTAKE_AUTO_ASSIGN = env_bool("PYTAKE_AUTO_ASSIGN", True)
PYTAKE_AUTO_RESOLVE_HOURS = env_int("PYTAKE_AUTO_RESOLVE_HOURS", 24)
PYTAKE_AWAY_REQUEUE_SECONDS = env_int("PYTAKE_AWAY_REQUEUE_SECONDS", 0)
PYTAKE_QUEUE_DEFAULT_HANDLING_SECONDS = env_int("PYTAKE_QUEUE_DEFAULT_HANDLING_SECONDS", 300)
PYTAKE_QUEUE_STATS_HOURS = env_int("PYTAKE_QUEUE_STATS_HOURS", 24)

# --- Static, i18n, security -------------------------------------------------------------------

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("pt-br", "Português (Brasil)")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("PYTAKE_MEDIA_ROOT", str(DATA_DIR / "media")))
# Media files (photos, voice notes, documents, videos): the local file system by default, any
# S3-compatible store when a bucket is set. Nothing under MEDIA_URL is public: files are served
# by conversations.files after the audience rule (README.md, "Media").
PYTAKE_MEDIA_S3_BUCKET = env_str("PYTAKE_MEDIA_S3_BUCKET", "")
PYTAKE_MEDIA_S3_ENDPOINT_URL = env_str("PYTAKE_MEDIA_S3_ENDPOINT_URL", "")
PYTAKE_MEDIA_S3_REGION = env_str("PYTAKE_MEDIA_S3_REGION", "")
PYTAKE_MEDIA_S3_ACCESS_KEY_ID = env_str("PYTAKE_MEDIA_S3_ACCESS_KEY_ID", "")
PYTAKE_MEDIA_S3_SECRET_ACCESS_KEY = env_str("PYTAKE_MEDIA_S3_SECRET_ACCESS_KEY", "")
PYTAKE_MEDIA_S3_ADDRESSING_STYLE = env_str("PYTAKE_MEDIA_S3_ADDRESSING_STYLE", "path")
# Seconds a media link (a presigned S3 URL, or a signed local one) stays valid.
PYTAKE_MEDIA_LINK_SECONDS = env_int("PYTAKE_MEDIA_LINK_SECONDS", 300)
# Behind nginx: the internal location that serves MEDIA_ROOT (X-Accel-Redirect); empty: the
# application streams local files itself.
PYTAKE_MEDIA_ACCEL_PREFIX = env_str("PYTAKE_MEDIA_ACCEL_PREFIX", "")
# Largest upload accepted by the API, whatever the kind (the per-kind limits are Meta's).
PYTAKE_MEDIA_UPLOAD_MAX_BYTES = env_int("PYTAKE_MEDIA_UPLOAD_MAX_BYTES", 100 * 1024 * 1024)


def s3_storage_options() -> dict[str, object]:
    """django-storages' S3Storage options from the PYTAKE_MEDIA_S3_* variables."""
    options: dict[str, object] = {
        "bucket_name": PYTAKE_MEDIA_S3_BUCKET,
        "default_acl": None,
        "querystring_auth": True,
        "querystring_expire": PYTAKE_MEDIA_LINK_SECONDS,
        "file_overwrite": False,
        "addressing_style": PYTAKE_MEDIA_S3_ADDRESSING_STYLE or None,
        "signature_version": "s3v4",
    }
    for key, value in (
        ("endpoint_url", PYTAKE_MEDIA_S3_ENDPOINT_URL),
        ("region_name", PYTAKE_MEDIA_S3_REGION),
        ("access_key", PYTAKE_MEDIA_S3_ACCESS_KEY_ID),
        ("secret_key", PYTAKE_MEDIA_S3_SECRET_ACCESS_KEY),
    ):
        if value:
            options[key] = value
    return options


STORAGES = {
    "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": s3_storage_options()}
    if PYTAKE_MEDIA_S3_BUCKET
    else {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG and env_bool("PYTAKE_MANIFEST_STATIC", True)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE", 2 * 1024 * 1024)

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("PYTAKE_BEHIND_TLS_PROXY") else None
SECURE_SSL_REDIRECT = env_bool("PYTAKE_SSL_REDIRECT", False)
SESSION_COOKIE_SECURE = env_bool("PYTAKE_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# HSTS on by default in production (a year); browsers heed it on HTTPS responses only, which
# needs PYTAKE_BEHIND_TLS_PROXY=1 behind a TLS-terminating proxy. 0 turns it off.
SECURE_HSTS_SECONDS = env_int("PYTAKE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("PYTAKE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("PYTAKE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy on every response (pytake/csp.py): scripts and styles from this origin only.
PYTAKE_CSP_ENABLED = env_bool("PYTAKE_CSP_ENABLED", True)

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
# JSON lines in production, readable text in development (see pytake/logging.py).
LOG_FORMAT = env_str("LOG_FORMAT", "text" if DEBUG else "json")
if LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, got {LOG_FORMAT!r}")
LOGGING = logging_config(json_lines=LOG_FORMAT == "json", level=LOG_LEVEL)

# --- Operations -------------------------------------------------------------------------------

# /metrics is open to loopback and private addresses; elsewhere it needs this bearer token.
PYTAKE_METRICS_TOKEN = env_str("PYTAKE_METRICS_TOKEN", "")
# Seconds an ASGI server takes at most, after SIGTERM, to close its sockets (1012) and exit.
PYTAKE_SHUTDOWN_TIMEOUT = env_float("PYTAKE_SHUTDOWN_TIMEOUT", 10.0)
