"""What the analyses API accepts and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema

from c360.analyses.logic import kinds
from c360.analyses.models import AnalysisRun

StatusName = Literal["queued", "running", "done", "failed", "cancelled"]


class RunIn(Schema):
    kind: str = Field(
        description="clustering, decision, funnel, or a kind of the journeys app "
        "(process_map, discovery, variants)."
    )
    name: str | None = Field(
        default=None, max_length=200, description="Defaults to the kind and the sources' names."
    )
    spec: dict[str, Any] = Field(description="The event log: source_ids, case, activity, filters.")
    params: dict[str, Any] = Field(default_factory=dict, description="The kind's parameters.")
    wait: bool = Field(
        default=False,
        description="Answer once the run is over (201, with its result) instead of at once (202).",
    )


class RunPatch(Schema):
    name: str = Field(min_length=1, max_length=200)


class KindOut(Schema):
    kind: str
    label: str


class RunOut(Schema):
    """One analysis run, without its result."""

    id: int
    name: str
    kind: str
    kind_label: str
    owner: str
    api_token_id: int | None = Field(description="The API token that started the run, if any.")
    status: StatusName
    progress: float = Field(ge=0, le=1)
    stage: str
    error: str
    spec: dict[str, Any] = Field(description="The event log the run analysed.")
    params: dict[str, Any]
    algorithm: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None

    @staticmethod
    def fields_of(run: AnalysisRun) -> dict[str, Any]:
        return {
            "id": run.pk,
            "name": run.name,
            "kind": run.kind,
            "kind_label": kinds().get(run.kind, run.kind),
            "owner": run.owner.get_username(),
            "api_token_id": run.api_token_id,
            "status": run.status,
            "progress": run.progress,
            "stage": run.stage,
            "error": run.error,
            "spec": run.spec,
            "params": run.params,
            "algorithm": run.algorithm,
            "created_at": run.created_at,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "duration_seconds": run.duration,
        }

    @staticmethod
    def of(run: AnalysisRun) -> RunOut:
        return RunOut(**RunOut.fields_of(run))


class RunDetailOut(RunOut):
    result: dict[str, Any] | None = Field(
        description="The stored result, as computed when the run finished; null until it is done."
    )

    @staticmethod
    def of(run: AnalysisRun) -> RunDetailOut:
        return RunDetailOut(**RunOut.fields_of(run), result=run.result)


class SideBySide(Schema):
    name: str
    first: Any = None
    second: Any = None
    same: bool


class CompareOut(Schema):
    kind: str
    first: RunOut
    second: RunOut
    spec: list[SideBySide]
    params: list[SideBySide]
    headline: list[SideBySide] = Field(description="Each run's headline figures.")
