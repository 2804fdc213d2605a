"""The one django-ninja API under /api/: one router per app, one error shape."""

from __future__ import annotations

from ninja import NinjaAPI

from c360 import __version__
from c360.web import errors

api = NinjaAPI(
    title="c360 API",
    version=__version__,
    description=(
        "Customer 360 and journey analytics. Authenticate with a browser session or an API "
        "token sent as `Authorization: Bearer <token>`. Every error has the shape "
        '`{"error": {"code", "message", "details"}}`.'
    ),
    docs_url="/docs",
    urls_namespace="api",
)
errors.install(api)


def _mount() -> None:
    from c360.accounts.api import router as accounts_router
    from c360.analyses.api import router as analyses_router
    from c360.journeys.api import router as journeys_router
    from c360.profiles.api import router as profiles_router
    from c360.sources.api import router as sources_router

    api.add_router("/", accounts_router)
    api.add_router("/", sources_router)
    api.add_router("/", profiles_router)
    api.add_router("/", journeys_router)
    api.add_router("/", analyses_router)


_mount()
