"""Users are Django's; admins are superusers, everyone else active is staff."""

from __future__ import annotations

from django.conf import settings
from django.db import models

PERMISSIONS = ("import", "analyze")


class ApiToken(models.Model):
    """A credential for another system, scoped to sources and permissions; stored hashed."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    permissions = models.JSONField(default=list)  # subset of PERMISSIONS
    sources = models.ManyToManyField("sources.DataSource", related_name="api_tokens")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
