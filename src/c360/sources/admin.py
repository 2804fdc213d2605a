"""Django admin for data sources, grants, column mappings and the import log."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from c360.sources.models import ColumnMapping, DataSource, Grant, ImportBatch


class GrantInline(admin.TabularInline):
    model = Grant
    fk_name = "source"
    extra = 0
    fields = ("user", "can_import", "can_analyze", "granted_by", "granted_at")
    readonly_fields = ("granted_at",)


@admin.register(DataSource)
class DataSourceAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "visibility", "owner", "created_at")
    list_filter = ("kind", "visibility")
    search_fields = ("name", "description")
    inlines = (GrantInline,)


@admin.register(Grant)
class GrantAdmin(admin.ModelAdmin):
    list_display = ("source", "user", "can_import", "can_analyze", "granted_by", "granted_at")
    list_filter = ("can_import", "can_analyze")
    search_fields = ("source__name", "user__username")


@admin.register(ColumnMapping)
class ColumnMappingAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "created_by", "updated_at")
    list_filter = ("kind",)
    search_fields = ("name",)


@admin.register(ImportBatch)
class ImportBatchAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "source",
        "file_name",
        "status",
        "rows_read",
        "rows_inserted",
        "rows_rejected",
        "created_by",
        "api_token",
        "created_at",
    )
    list_filter = ("status", "mode", "source")
    search_fields = ("file_name", "source__name")
    date_hierarchy = "created_at"
    # The log is written by imports and rollbacks: editing it here would make it lie.
    readonly_fields = tuple(
        field.name for field in ImportBatch._meta.get_fields() if field.concrete
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
