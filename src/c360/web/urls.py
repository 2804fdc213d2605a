from django.contrib import admin
from django.urls import include, path

from c360.ingest import tracking
from c360.web.api import api

urlpatterns = [
    # The HTTP tracking API, at the paths Segment-compatible client libraries post to.
    path("v1/identify", tracking.identify),
    path("v1/track", tracking.track),
    path("v1/page", tracking.page),
    path("v1/screen", tracking.screen),
    path("v1/group", tracking.group),
    path("v1/alias", tracking.alias),
    path("v1/batch", tracking.batch),
    path("v1/import", tracking.batch),
    path("api/", api.urls),
    path("admin/", admin.site.urls),
    path("", include("c360.web.page_urls")),
]
