"""ASGI entry point: one process owns the warehouse (see c360.cli serve)."""

import os
import warnings

from django.core.asgi import get_asgi_application

# WhiteNoise serves static files with a synchronous iterator; Django's ASGI handler consumes it
# in a thread and warns on every file. The files are small front-end assets, so the cost is
# nil and the warning is noise.
warnings.filterwarnings(
    "ignore",
    message="StreamingHttpResponse must consume synchronous iterators",
    category=Warning,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "c360.web.settings")

application = get_asgi_application()
