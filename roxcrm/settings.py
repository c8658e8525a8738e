"""Settings for Rox CRM, every knob read from the environment through one django-environ ``env``.

Each setting has a safe development default, a line in ``.env.example`` and a row in the README's configuration
table. A ``.env`` file at the project root (written once by ``make run``, git-ignored) is read when present; real
environment variables win over it.
"""

import os
import tempfile
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. `make run` writes a development key into .env; "
        "in production set the SECRET_KEY environment variable."
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Public base URL of this site, used in e-mails (invitations) sent outside a request.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "django_q",
    "roxcrm",
    "activities",
    "mappings",
    "integrations",
    "ninja",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "roxcrm.middleware.RefuseNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "roxcrm.urls"

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
                "roxcrm.context_processors.organization",
            ],
        },
    },
]

WSGI_APPLICATION = "roxcrm.wsgi.application"
ASGI_APPLICATION = "roxcrm.asgi.application"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server and the worker read while one of them writes; IMMEDIATE transactions take the write
    # lock up front instead of failing with "database is locked" when a read transaction tries to upgrade.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # Tests use a file too (not Django's shared in-memory database), so concurrent workers wait for each other's
    # write lock as they do in production instead of failing with "database table is locked". One file per test
    # process, so that two test runs at once never share (or delete) each other's database.
    DATABASES["default"].setdefault(
        "TEST", {"NAME": str(Path(tempfile.gettempdir()) / f"roxcrm-test-{os.getpid()}.sqlite3")}
    )
else:
    # 0 closes a connection at the end of each request. Persistent connections pay off under gunicorn's few
    # long-lived workers (set CONN_MAX_AGE=60 there); runserver serves each request on a new thread, and each thread
    # would hold its own connection until PostgreSQL refuses more ("too many clients").
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "roxcrm.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

# django-allauth: e-mail and password only, no usernames.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="optional")
ACCOUNT_LOGIN_ON_PASSWORD_RESET = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_ADAPTER = "roxcrm.adapters.AccountAdapter"
ACCOUNT_FORMS = {"signup": "roxcrm.adapters.SignupForm"}
# When off, only people following an invitation link can create an account, each with the address invited.
ACCOUNT_ALLOW_SIGNUPS = env.bool("ACCOUNT_ALLOW_SIGNUPS", default=True)
# Who may create organizations: "anyone" signed in, or "staff" only. Staff by default in production, so that nobody
# who signs up on a new deployment (or holds an invitation) can open tenants of their own there; the operator's
# `createsuperuser` account creates the first organization and invites people into it.
ORGANIZATION_CREATION = env.str("ORGANIZATION_CREATION", default="anyone" if DEBUG else "staff")
if ORGANIZATION_CREATION not in ("anyone", "staff"):
    raise ImproperlyConfigured(f"ORGANIZATION_CREATION must be `anyone` or `staff`, not `{ORGANIZATION_CREATION}`.")
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"

EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="smtp://localhost:25")
EMAIL_HOST = EMAIL_CONFIG["EMAIL_HOST"]
EMAIL_PORT = EMAIL_CONFIG["EMAIL_PORT"]
EMAIL_HOST_USER = EMAIL_CONFIG.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = EMAIL_CONFIG.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = EMAIL_CONFIG.get("EMAIL_USE_TLS", False)
# Seconds to wait for the mail server. Without a limit, a server that drops packets holds the request (a sign-up, an
# invitation) until the worker is killed; with one, the failure is reported and the sign-up still succeeds.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Rox CRM <noreply@localhost>")

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "roxcrm.storage.StaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Tokens and other secrets stored in the database are encrypted with these keys (Fernet, urlsafe base64 of 32
# bytes). The first key encrypts; every key decrypts, so a key is rotated by putting a new one first and running
# `manage.py rotate_encryption_key`.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEY", default=[])

# Salesforce: the connected app Rox signs in with, where admins sign in by default, and an extra CA to trust for
# Salesforce calls only (sfsim's, in development and tests; unset in production).
SALESFORCE_CLIENT_ID = env.str("SALESFORCE_CLIENT_ID", default="")
SALESFORCE_CLIENT_SECRET = env.str("SALESFORCE_CLIENT_SECRET", default="")
SALESFORCE_LOGIN_URL = env.str("SALESFORCE_LOGIN_URL", default="https://login.salesforce.com").rstrip("/")
SALESFORCE_CA_BUNDLE = env.str("SALESFORCE_CA_BUNDLE", default="")
# The hosts Rox may send a Salesforce token or the client secret to, beyond the built-in login.salesforce.com,
# test.salesforce.com, *.my.salesforce.com and *.my.site.com: comma-separated `host`, `*.domain`, either with
# `:port` (443 otherwise). `make run` adds sfsim's.
SALESFORCE_ALLOWED_HOSTS = env.list("SALESFORCE_ALLOWED_HOSTS", default=[])
SALESFORCE_API_VERSION = env.str("SALESFORCE_API_VERSION", default="59.0")
# Inbound sync: how far back each incremental run re-reads (records that become visible late), above how many rows a
# first read uses a Bulk API 2.0 job, after how long a run's lock is considered abandoned, and a factor on retry
# delays (tests make them short).
SALESFORCE_SYNC_OVERLAP_MINUTES = env.int("SALESFORCE_SYNC_OVERLAP_MINUTES", default=10)
SALESFORCE_BULK_THRESHOLD = env.int("SALESFORCE_BULK_THRESHOLD", default=50_000)
SALESFORCE_RUN_TIMEOUT = env.int("SALESFORCE_RUN_TIMEOUT", default=30 * 60)
SALESFORCE_RETRY_SCALE = env.float("SALESFORCE_RETRY_SCALE", default=1.0)
SALESFORCE_FORMULA_REFRESH_HOURS = env.int("SALESFORCE_FORMULA_REFRESH_HOURS", default=24)
# Writeback: above this many records in one drain, updates go through a Bulk API 2.0 ingest job (below it, sObject
# Collections, 200 a call, which Salesforce applies at once); after how many seconds a queued writeback request that
# has not started is asked again; how long a writeback task waits for another run holding its object.
SALESFORCE_BULK_WRITE_THRESHOLD = env.int("SALESFORCE_BULK_WRITE_THRESHOLD", default=20_000)
SALESFORCE_WRITEBACK_REQUEST_STALE = env.int("SALESFORCE_WRITEBACK_REQUEST_STALE", default=30)
SALESFORCE_WRITEBACK_WAIT_SECONDS = env.int("SALESFORCE_WRITEBACK_WAIT_SECONDS", default=10)
# Set up Salesforce for me: how often a Metadata API deployment is polled and how long Rox waits for it; and the
# install URL of a packaged version of the Rox package (``https://login.salesforce.com/packaging/installPackage.apexp?
# p0=04t...``), offered on the manual path when set.
SALESFORCE_DEPLOY_POLL_SECONDS = env.float("SALESFORCE_DEPLOY_POLL_SECONDS", default=2.0)
SALESFORCE_DEPLOY_TIMEOUT = env.int("SALESFORCE_DEPLOY_TIMEOUT", default=10 * 60)
SALESFORCE_PACKAGE_INSTALL_URL = env.str("SALESFORCE_PACKAGE_INSTALL_URL", default="")
# The module that gives the CRM mappings the connected org's schema (so mappings never imports integrations), and the
# one told of every change to a record (so the outbox is written in the edit's transaction; records never import it).
MAPPINGS_SCHEMA = "integrations.schema"
RECORD_HOOKS = "integrations.record_hooks"

# Requests each API token may make per minute (the JSON API at /api/v1/ answers 429 with Retry-After past it).
API_RATE_LIMIT_PER_MINUTE = env.int("API_RATE_LIMIT_PER_MINUTE", default=600)

REDIS_URL = env.str("REDIS_URL", default="")
Q_CLUSTER = {
    "name": "roxcrm",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": env.int("Q_TIMEOUT", default=600),
    # django-q2 re-queues a task after `retry` seconds; it must exceed `timeout` or a slow task runs twice.
    "retry": env.int("Q_TIMEOUT", default=600) + 120,
    "max_attempts": 3,
    "catch_up": False,
    "save_limit": 1000,
    "label": "Background tasks",
    # With the database as the queue (no REDIS_URL), how often an idle cluster looks for new tasks, in seconds: the
    # delay between an edit and its writeback starting. One small query each time.
    "poll": env.float("Q_POLL", default=0.2),
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
if env.bool("Q_SYNC", default=False):
    Q_CLUSTER["sync"] = True

# Production hardening. Each is on by default whenever DEBUG is off, and can be relaxed through the environment
# (for example SECURE_SSL_REDIRECT=False behind a proxy that already redirects).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_PROXY", default=False) else None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Tokens and secrets marked with sensitive_variables / sensitive_post_parameters stay hidden on error pages and in
# error e-mails, DEBUG or not.
DEFAULT_EXCEPTION_REPORTER_FILTER = "roxcrm.debug.AlwaysSafeExceptionReporterFilter"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Demo data created by `make run` (manage.py bootstrap_demo). Only used in development.
DEMO_ADMIN_EMAIL = env.str("DEMO_ADMIN_EMAIL", default="admin@rox.example")
DEMO_ADMIN_PASSWORD = env.str("DEMO_ADMIN_PASSWORD", default="")
PAGINATE_BY = 25
