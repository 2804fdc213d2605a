"""Django settings: every value comes from c360.config, which reads the environment."""

from __future__ import annotations

from pathlib import Path

import dj_database_url

from c360 import config

_settings = config.load()

BASE_DIR = Path(__file__).resolve().parent.parent
C360 = _settings
C360_DATA_DIR = _settings.data_dir
C360_WAREHOUSE_URL = _settings.warehouse_url
C360_UPLOAD_DIR = _settings.data_dir / "uploads"
C360_UPLOAD_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = _settings.secret_key
DEBUG = _settings.debug
ALLOWED_HOSTS = _settings.allowed_hosts
CSRF_TRUSTED_ORIGINS = [f"http://{host}" for host in ALLOWED_HOSTS] + [
    f"http://{host}:*" for host in ALLOWED_HOSTS
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "c360.web",
    "c360.accounts",
    "c360.sources",
    "c360.profiles",
    "c360.journeys",
    "c360.analyses",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "c360.web.urls"
ASGI_APPLICATION = "c360.web.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

DATABASES = {"default": dj_database_url.parse(_settings.database_url, conn_max_age=0)}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Imports run in threads beside requests: wait for the lock instead of failing at once.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
if _settings.environment == "test":
    # Tests create many users; the default hasher takes ~0.3 s each by design.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = _settings.data_dir / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing one
# Front-end packages come from the npm registry (frontend/package-lock.json) and are served
# from frontend/node_modules by the app itself: no CDN, the platform works offline.
FRONTEND_DIR = BASE_DIR.parent.parent / "frontend"
# Only the packages pages load are served, never the whole node_modules (dev tools live there).
STATICFILES_DIRS = [
    ("vendor/htmx.org/dist", FRONTEND_DIR / "node_modules" / "htmx.org" / "dist"),
    ("vendor/echarts/dist", FRONTEND_DIR / "node_modules" / "echarts" / "dist"),
    ("vendor/@viz-js/viz/dist", FRONTEND_DIR / "node_modules" / "@viz-js" / "viz" / "dist"),
]
WHITENOISE_USE_FINDERS = True  # serve straight from the finders: no collectstatic step
# Uploads stream to disk: nothing of the file is held in memory beyond one chunk.
FILE_UPLOAD_MAX_MEMORY_SIZE = 0
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = str(C360_UPLOAD_DIR)

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx and the upload script send it back as a header

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"c360": {"handlers": ["console"], "level": "INFO"}},
}
