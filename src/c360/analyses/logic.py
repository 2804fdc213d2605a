"""Analysis runs: start one in the background, follow its progress, cancel, keep its result.

Each kind of analysis registers one compute function; a run calls it with the event log
spec, the parameters and a progress callback. The result is stored with the run, so opening
a run later shows exactly what was computed then, never a recomputation.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.utils import timezone

from c360.accounts.logic import is_admin
from c360.accounts.models import ApiToken
from c360.analyses.models import AnalysisRun, ResultEncoder, RunStatus
from c360.sources.logic import NotAllowed, NotFound, get_source
from c360.sources.permissions import Actor

log = logging.getLogger("c360.analyses")

Progress = Callable[[float, str], None]
Compute = Callable[[dict[str, Any], dict[str, Any], Progress], dict[str, Any]]
CheckParams = Callable[[dict[str, Any]], dict[str, Any]]

INTERRUPTED = "interrupted by a restart: the server stopped while this run was under way"
# Runs compute on threads of the server process; two at a time keep a small machine
# responsive, the others wait their turn as 'queued'.
_RUN_SLOTS = threading.BoundedSemaphore(2)


class Cancelled(Exception):
    """Raised by the progress callback once the run has been cancelled; the run stops there."""


@dataclass(frozen=True)
class Kind:
    name: str
    compute: Compute
    label: str
    check_params: CheckParams | None = None


_KINDS: dict[str, Kind] = {}


def register(
    kind: str,
    compute: Compute,
    *,
    label: str | None = None,
    check_params: CheckParams | None = None,
) -> None:
    """Make `kind` runnable. `check_params` validates and completes the parameters before
    the run is recorded, so a bad parameter is refused at once (ValueError) rather than
    failing the run later."""
    _KINDS[kind] = Kind(
        name=kind,
        compute=compute,
        label=label or kind.replace("_", " ").capitalize(),
        check_params=check_params,
    )


def unregister(kind: str) -> None:
    _KINDS.pop(kind, None)


def kinds() -> dict[str, str]:
    """The registered kinds and their labels."""
    return {name: k.label for name, k in sorted(_KINDS.items())}


def _kind(name: str) -> Kind:
    found = _KINDS.get(name)
    if found is None:
        raise ValueError(f"kind: expected one of {sorted(_KINDS)}, got {name!r}")
    return found


# -- who sees what ------------------------------------------------------------------------
def _admin(actor: Actor) -> bool:
    return not isinstance(actor, ApiToken) and is_admin(actor)


def visible_runs(actor: Actor) -> QuerySet[AnalysisRun]:
    """Users see their own runs, admins all; a token sees the runs it started."""
    runs = AnalysisRun.objects.select_related("owner")
    if isinstance(actor, ApiToken):
        return runs.filter(api_token=actor) if actor.is_active else runs.none()
    if actor is None or not actor.is_authenticated or not actor.is_active:
        return runs.none()
    if is_admin(actor):
        return runs.all()
    return runs.filter(owner_id=actor.pk)


def get_run(actor: Actor, run_id: int, *, for_result: bool = True) -> AnalysisRun:
    """The run, if the actor may see it (NotFound otherwise, revealing nothing).

    With `for_result`, the actor must still hold `analyze` on the run's sources: a result
    holds case ids, which someone whose grant was taken back should no longer read.
    """
    run = visible_runs(actor).filter(pk=run_id).first()
    if run is None:
        raise NotFound(f"no analysis run {run_id}")
    if for_result and not _admin(actor):
        for source_id in run.source_ids:
            try:
                get_source(actor, source_id, action="analyze")
            except NotFound:
                raise NotAllowed(
                    f"run {run_id} analysed data source {source_id}, which you may no longer "
                    "analyse"
                ) from None
    return run


def _require_owner(actor: Actor, run: AnalysisRun, action: str) -> User:
    if isinstance(actor, ApiToken):
        raise NotAllowed(f"API tokens may not {action} analysis runs; log in to do this")
    if not _admin(actor) and (actor is None or run.owner_id != actor.pk):
        raise NotAllowed(f"only the run's owner and admins may {action} it")
    return actor  # type: ignore[return-value]


# -- state changes ------------------------------------------------------------------------
def _checked_spec(actor: Actor, spec: Any) -> tuple[dict[str, Any], list[str]]:
    """The event log spec, validated, on sources the actor may analyse; and their names."""
    from c360.journeys.eventlog import LogSpec

    if not isinstance(spec, dict):
        raise ValueError("spec: expected a JSON object describing the event log")
    source_ids = spec.get("source_ids")
    if not isinstance(source_ids, list | tuple) or not source_ids:
        raise ValueError("spec.source_ids: expected a non-empty list of data source ids")
    names = []
    for source_id in source_ids:
        if isinstance(source_id, bool) or not isinstance(source_id, int):
            raise ValueError(f"spec.source_ids: expected integer ids, got {source_id!r}")
        names.append(get_source(actor, source_id, action="analyze").name)
    return LogSpec.from_dict(spec).to_dict(), names


def start_run(
    *,
    actor: Actor,
    kind: str,
    name: str | None,
    spec: dict[str, Any],
    params: dict[str, Any],
    background: bool = True,
) -> AnalysisRun:
    """Record a run and compute it: on a thread of the server (default) or right here.

    The actor needs `analyze` on every source of the spec.
    """
    if isinstance(actor, ApiToken):
        if not actor.is_active:
            raise NotAllowed("this API token is revoked")
        owner: User = actor.created_by
    elif actor is not None and actor.is_authenticated and actor.is_active:
        owner = actor  # type: ignore[assignment]
    else:
        raise NotAllowed("log in to run an analysis")
    found = _kind(kind)
    if not isinstance(params, dict):
        raise ValueError("params: expected a JSON object")
    checked_spec, source_names = _checked_spec(actor, spec)
    checked_params = found.check_params(dict(params)) if found.check_params else dict(params)
    name = (name or "").strip() or f"{found.label} of {', '.join(source_names)}"
    if len(name) > 200:
        raise ValueError("name: at most 200 characters")
    run = _retrying(
        lambda: AnalysisRun.objects.create(
            owner=owner,
            api_token=actor if isinstance(actor, ApiToken) else None,
            name=name,
            kind=kind,
            spec=checked_spec,
            params=checked_params,
            algorithm=str(checked_params.get("algorithm", "")),
            stage="waiting to start",
        )
    )
    if not background:
        _execute(run.pk)
        run.refresh_from_db()
        return run

    def work() -> None:
        try:
            with _RUN_SLOTS:
                _execute(run.pk)
        finally:
            from django.db import connection

            connection.close()

    threading.Thread(target=work, name=f"analysis-{run.pk}", daemon=True).start()
    return run


_R = TypeVar("_R")


def _retrying(call: Callable[[], _R]) -> _R:
    """`call()`, tried again while SQLite reports the table locked.

    SQLite's shared cache (the in-memory test database) reports a table another thread is
    writing as locked at once instead of waiting for it, and runs write from their threads
    while requests create and read runs.
    """
    from django.db import OperationalError

    for attempt in range(100):
        try:
            return call()
        except OperationalError as exc:
            if "locked" not in str(exc) or attempt == 99:
                raise
            time.sleep(0.05)
    raise AssertionError("not reached: the last attempt returns or raises")


def _update(run_id: int, when: str, /, **fields: Any) -> int:
    """Update the run if its status is `when`; how many rows changed (0 or 1)."""
    return _retrying(lambda: AnalysisRun.objects.filter(pk=run_id, status=when).update(**fields))


def _execute(run_id: int) -> None:
    """Compute one queued run and record the outcome; never raises."""
    started = timezone.now()
    begun = time.monotonic()
    claimed = _update(
        run_id, RunStatus.QUEUED, status=RunStatus.RUNNING, started_at=started, stage="starting"
    )
    if not claimed:  # cancelled (or deleted) while it waited for a slot
        return
    run = _retrying(lambda: AnalysisRun.objects.get(pk=run_id))

    def progress(fraction: float, stage: str) -> None:
        # One statement both records the progress and notices a cancel: once the run is no
        # longer 'running' nothing matches, and the computation stops here.
        fraction = max(0.0, min(1.0, float(fraction)))
        updated = _update(run_id, RunStatus.RUNNING, progress=fraction, stage=stage[:200])
        if not updated:
            raise Cancelled(f"analysis run {run_id} was cancelled")

    def finish(outcome: str, **fields: Any) -> None:
        _update(
            run_id,
            RunStatus.RUNNING,
            status=outcome,
            finished_at=timezone.now(),
            duration=time.monotonic() - begun,
            **fields,
        )

    try:
        result = _kind(run.kind).compute(dict(run.spec), dict(run.params), progress)
        # Fails here, on a value JSON cannot hold, rather than when the run is reopened.
        ResultEncoder().encode(result)
    except Cancelled:
        _close_cancelled(run_id, begun)
        return
    except Exception as exc:
        log.exception("analysis run %s failed", run_id)
        message = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
        finish(RunStatus.FAILED, error=message or type(exc).__name__, stage="failed")
        return
    finish(RunStatus.DONE, result=result, progress=1.0, stage="done")
    # Cancelled while the last step computed: the result is dropped, the time recorded.
    _close_cancelled(run_id, begun)


def _close_cancelled(run_id: int, begun: float) -> None:
    _update(
        run_id, RunStatus.CANCELLED, finished_at=timezone.now(), duration=time.monotonic() - begun
    )


def cancel_run(*, actor: Actor, run: AnalysisRun) -> AnalysisRun:
    """Stop a queued or running run; it stops at its next progress report."""
    if not (isinstance(actor, ApiToken) and run.api_token_id == actor.pk):
        _require_owner(actor, run, "cancel")
    if run.is_finished:
        raise ValueError(
            f"run {run.pk} is {run.status} already; only a queued or running run stops"
        )
    now = timezone.now()
    AnalysisRun.objects.filter(pk=run.pk, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).update(
        status=RunStatus.CANCELLED, stage="cancelled", finished_at=now
    )
    run.refresh_from_db()
    return run


def rename_run(*, actor: Actor, run: AnalysisRun, name: str) -> AnalysisRun:
    _require_owner(actor, run, "rename")
    name = name.strip()
    if not name:
        raise ValueError("name: a run needs a name")
    if len(name) > 200:
        raise ValueError("name: at most 200 characters")
    run.name = name
    run.save(update_fields=["name"])
    return run


def delete_run(*, actor: Actor, run: AnalysisRun) -> None:
    """Delete the run and its result; a run under way is cancelled first."""
    _require_owner(actor, run, "delete")
    AnalysisRun.objects.filter(pk=run.pk, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).update(
        status=RunStatus.CANCELLED
    )
    run.delete()


def recover_interrupted_runs() -> int:
    """On start: runs a stop left queued or running are marked failed, saying why."""
    return AnalysisRun.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).update(
        status=RunStatus.FAILED, error=INTERRUPTED, stage="failed", finished_at=timezone.now()
    )


# -- comparing two runs -------------------------------------------------------------------
def headline(run: AnalysisRun) -> dict[str, Any]:
    """The figures a run is summed up by: its result's 'headline', if it has one."""
    result = run.result if isinstance(run.result, dict) else {}
    figures = result.get("headline")
    return dict(figures) if isinstance(figures, dict) else {}


def _side_by_side(first: dict[str, Any], second: dict[str, Any]) -> list[dict[str, Any]]:
    keys = list(first) + [key for key in second if key not in first]
    return [
        {
            "name": key,
            "first": first.get(key),
            "second": second.get(key),
            "same": first.get(key) == second.get(key),
        }
        for key in keys
    ]


def compare(*, actor: Actor, first_id: int, second_id: int) -> dict[str, Any]:
    """Two runs of one kind: their data, parameters and headline figures side by side."""
    first = get_run(actor, first_id)
    second = get_run(actor, second_id)
    if first.kind != second.kind:
        raise ValueError(
            f"runs {first.pk} ({first.kind}) and {second.pk} ({second.kind}) are of different "
            "kinds; only runs of one kind compare"
        )
    return {
        "kind": first.kind,
        "first": first,
        "second": second,
        "spec": _side_by_side(first.spec, second.spec),
        "params": _side_by_side(first.params, second.params),
        "headline": _side_by_side(headline(first), headline(second)),
    }


def may_change(actor: Actor, run: AnalysisRun) -> bool:
    """Whether the actor may rename, cancel and delete the run (for the pages' buttons)."""
    return not isinstance(actor, ApiToken) and (
        _admin(actor) or (actor is not None and actor.is_authenticated and run.owner_id == actor.pk)
    )
