"""Saved analysis runs: who ran what on which data, how it went, and the stored result."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED = (RunStatus.DONE, RunStatus.FAILED, RunStatus.CANCELLED)


class ResultEncoder(DjangoJSONEncoder):
    """JSON for results: also NumPy scalars and arrays, which the analyses compute with."""

    def default(self, o: Any) -> Any:
        if hasattr(o, "tolist") and callable(o.tolist):
            return o.tolist()  # NumPy arrays and scalars alike
        return super().default(o)


class AnalysisRun(models.Model):
    """One run of one analysis; its result is stored so reopening it never recomputes."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="analysis_runs"
    )
    # Set when an API token started the run; the owner is then the token's creator.
    api_token = models.ForeignKey(
        "accounts.ApiToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=40, db_index=True)
    spec = models.JSONField(default=dict)  # the event log: sources, case, activity, filters
    params = models.JSONField(default=dict)
    algorithm = models.CharField(max_length=60, blank=True)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    progress = models.FloatField(default=0.0)  # 0..1
    stage = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration = models.FloatField(null=True, blank=True)  # seconds, from start to finish
    result = models.JSONField(null=True, blank=True, encoder=ResultEncoder)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} run {self.pk} ({self.name})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def source_ids(self) -> list[int]:
        ids = self.spec.get("source_ids", []) if isinstance(self.spec, dict) else []
        return [int(i) for i in ids]
