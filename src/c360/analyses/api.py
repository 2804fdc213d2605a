"""Analyses API: start, follow, cancel, rename, delete and compare analysis runs."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Status

from c360.accounts.auth import token_or_session
from c360.analyses import logic
from c360.analyses.schemas import (
    CompareOut,
    KindOut,
    RunDetailOut,
    RunIn,
    RunOut,
    RunPatch,
    StatusName,
)
from c360.sources.permissions import Actor
from c360.web.errors import ErrorOut

router = Router(tags=["analyses"], auth=token_or_session)

_LIST = {401: ErrorOut}
_ONE = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut}
_CHANGE = {**_ONE, 422: ErrorOut}


def _actor(request: HttpRequest) -> Actor:
    return request.auth  # type: ignore[attr-defined,no-any-return]


@router.get(
    "/analyses/kinds", response={200: list[KindOut], **_LIST}, operation_id="list_analysis_kinds"
)
def list_analysis_kinds(request: HttpRequest) -> list[KindOut]:
    """Who: anyone logged in, and API tokens. The kinds of analysis that can be run."""
    return [KindOut(kind=kind, label=label) for kind, label in logic.kinds().items()]


@router.get("/analyses", response={200: list[RunOut], **_LIST}, operation_id="list_analysis_runs")
def list_analysis_runs(
    request: HttpRequest, kind: str | None = None, status: StatusName | None = None
) -> list[RunOut]:
    """Who: anyone logged in, and API tokens. Users see their own runs, admins all runs, a
    token the runs it started; newest first, without results."""
    runs = logic.visible_runs(_actor(request))
    if kind:
        runs = runs.filter(kind=kind)
    if status:
        runs = runs.filter(status=status)
    return [RunOut.of(run) for run in runs[:500]]


@router.post(
    "/analyses",
    response={201: RunDetailOut, 202: RunOut, **_CHANGE},
    operation_id="start_analysis_run",
)
def start_analysis_run(request: HttpRequest, payload: RunIn) -> Status[RunOut]:
    """Who: users and API tokens holding `analyze` on every source of the spec (admins and a
    source's owner hold it). Others get 403, or 404 for a source they may not see.

    The run computes in the background (202) and records its progress; with `wait` the
    answer comes when it is over (201, with the result). Parameters are checked first: a bad
    one is 422 and nothing is recorded.
    """
    run = logic.start_run(
        actor=_actor(request),
        kind=payload.kind,
        name=payload.name,
        spec=payload.spec,
        params=payload.params,
        background=not payload.wait,
    )
    if payload.wait:
        return Status(201, RunDetailOut.of(run))
    return Status(202, RunOut.of(run))


@router.get(
    "/analyses/compare", response={200: CompareOut, **_CHANGE}, operation_id="compare_analysis_runs"
)
def compare_analysis_runs(request: HttpRequest, first: int, second: int) -> CompareOut:
    """Who: whoever may open both runs (see get_analysis_run). Two runs of one kind: their
    event logs, parameters and headline figures side by side; runs of different kinds are 422."""
    compared = logic.compare(actor=_actor(request), first_id=first, second_id=second)
    return CompareOut(
        kind=compared["kind"],
        first=RunOut.of(compared["first"]),
        second=RunOut.of(compared["second"]),
        spec=compared["spec"],
        params=compared["params"],
        headline=compared["headline"],
    )


@router.get(
    "/analyses/{run_id}", response={200: RunDetailOut, **_ONE}, operation_id="get_analysis_run"
)
def get_analysis_run(request: HttpRequest, run_id: int) -> RunDetailOut:
    """Who: the run's owner (still holding `analyze` on its sources), admins, and the token
    that started it. Others get 404. The stored result is returned, never recomputed."""
    return RunDetailOut.of(logic.get_run(_actor(request), run_id))


@router.patch(
    "/analyses/{run_id}", response={200: RunOut, **_CHANGE}, operation_id="rename_analysis_run"
)
def rename_analysis_run(request: HttpRequest, run_id: int, payload: RunPatch) -> RunOut:
    """Who: the run's owner and admins, logged in; not API tokens. Renames the run."""
    actor = _actor(request)
    run = logic.get_run(actor, run_id, for_result=False)
    return RunOut.of(logic.rename_run(actor=actor, run=run, name=payload.name))


@router.post(
    "/analyses/{run_id}/cancel",
    response={200: RunOut, **_CHANGE},
    operation_id="cancel_analysis_run",
)
def cancel_analysis_run(request: HttpRequest, run_id: int) -> RunOut:
    """Who: the run's owner, admins, and the token that started it. Stops a queued or running
    run at its next progress report; a finished run is 422."""
    actor = _actor(request)
    run = logic.get_run(actor, run_id, for_result=False)
    return RunOut.of(logic.cancel_run(actor=actor, run=run))


@router.delete(
    "/analyses/{run_id}", response={204: None, **_ONE}, operation_id="delete_analysis_run"
)
def delete_analysis_run(request: HttpRequest, run_id: int) -> Status[None]:
    """Who: the run's owner and admins, logged in; not API tokens. Deletes the run and its
    result; a run under way is cancelled first."""
    actor = _actor(request)
    run = logic.get_run(actor, run_id, for_result=False)
    logic.delete_run(actor=actor, run=run)
    return Status(204, None)
