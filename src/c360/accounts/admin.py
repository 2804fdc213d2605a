"""Django admin for API tokens; users keep Django's own UserAdmin."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from c360.accounts.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "prefix",
        "permissions",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix")
    filter_horizontal = ("sources",)
    # The hash is all c360 keeps of a secret: shown read-only so it can be compared, never edited.
    readonly_fields = ("prefix", "token_hash", "created_by", "created_at", "last_used_at")
    fields = (
        "name",
        "prefix",
        "token_hash",
        "sources",
        "permissions",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A token made here would have no secret anyone has seen; issue tokens on the
        # API tokens page, which shows the secret once.
        return False
