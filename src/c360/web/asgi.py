"""ASGI entry point: one process owns the warehouse (see c360.cli serve).

The tracking API's paths (/v1/...) go to its own ASGI application (c360.ingest.tracking),
everything else to Django.
"""

import os
import warnings
from typing import Any

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

django_application = get_asgi_application()

from c360.ingest import tracking  # noqa: E402 (after Django is set up)


async def application(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "http" and scope["path"].startswith("/v1/"):
        await tracking.application(scope, receive, send)
    else:
        await django_application(scope, receive, send)
