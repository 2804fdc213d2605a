from django.contrib import admin
from django.urls import include, path

from c360.web.api import api

urlpatterns = [
    path("api/", api.urls),
    path("admin/", admin.site.urls),
    path("", include("c360.web.page_urls")),
]
