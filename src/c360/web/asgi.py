"""ASGI entry point: one process owns the warehouse (see c360.cli serve)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "c360.web.settings")

application = get_asgi_application()
