"""Pages of the analysis history: the list of runs, one run (progress, then its stored
result), and two runs compared."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from c360.analyses import logic
from c360.analyses.models import AnalysisRun, RunStatus
from c360.sources.models import DataSource
from c360.web.views import page

# Kinds whose result has a page section of its own; the others show their figures as JSON.
_RESULT_TEMPLATES = {
    "clustering": "analyses/results/_clustering.html",
    "decision": "analyses/results/_decision.html",
    "funnel": "analyses/results/_funnel.html",
}


def _kind_label(kind: str) -> str:
    return logic.kinds().get(kind, kind)


@page
def run_list(request: HttpRequest) -> HttpResponse:
    """Anyone logged in: their own runs (admins: every run), newest first, by kind."""
    runs = logic.visible_runs(request.user)
    present = sorted(set(runs.values_list("kind", flat=True)))
    kind = request.GET.get("kind") or ""
    if kind:
        runs = runs.filter(kind=kind)
    context = {
        "runs": runs[:500],
        "kind": kind,
        "kinds": [(name, _kind_label(name)) for name in present],
        "compare_first": request.GET.get("first") or "",
    }
    return render(request, "analyses/run_list.html", context)


def _spec_rows(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """The event log's settings that were set, as label and text, for the Data card."""
    rows = []
    for name, value in spec.items():
        if name == "source_ids" or value in (None, [], {}, ""):
            continue
        if name == "cases":
            value = f"{len(value)} chosen cases"
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in value.items())
        rows.append((name.replace("_", " ").capitalize(), str(value)))
    return rows


def _run_context(request: HttpRequest, run: AnalysisRun) -> dict[str, Any]:
    return {
        "run": run,
        "sources": DataSource.objects.filter(pk__in=run.source_ids).order_by("name"),
        "spec_rows": _spec_rows(run.spec),
        "result_json": json.dumps(run.result, indent=2, ensure_ascii=False)[:200_000],
        "kind_label": _kind_label(run.kind),
        "may_change": logic.may_change(request.user, run),
        "result_template": _RESULT_TEMPLATES.get(run.kind, "analyses/results/_other.html"),
        "result": run.result if isinstance(run.result, dict) else None,
        "headline": logic.headline(run),
    }


@page
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    """The run's owner (still allowed to analyse its sources) and admins: progress while it
    runs, then the stored result, never recomputed."""
    run = logic.get_run(request.user, run_id)
    others = (
        logic.visible_runs(request.user)
        .filter(kind=run.kind, status=RunStatus.DONE)
        .exclude(pk=run.pk)[:50]
    )
    context = _run_context(request, run) | {"others": others}
    return render(request, "analyses/run_detail.html", context)


@page
def run_progress(request: HttpRequest, run_id: int) -> HttpResponse:
    """As run_detail: the progress partial htmx polls; a finished run reloads the page."""
    run = logic.get_run(request.user, run_id)
    response = render(request, "analyses/_run_progress.html", {"run": run})
    if run.is_finished and request.headers.get("HX-Request"):
        response["HX-Refresh"] = "true"
    return response


@page
@require_POST
def run_rename(request: HttpRequest, run_id: int) -> HttpResponse:
    """The run's owner and admins."""
    run = logic.get_run(request.user, run_id, for_result=False)
    try:
        logic.rename_run(actor=request.user, run=run, name=request.POST.get("name", ""))
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Renamed to “{run.name}”.")
    return redirect("analysis-detail", run_id=run.pk)


@page
@require_POST
def run_cancel(request: HttpRequest, run_id: int) -> HttpResponse:
    """The run's owner and admins."""
    run = logic.get_run(request.user, run_id, for_result=False)
    try:
        logic.cancel_run(actor=request.user, run=run)
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "The run was cancelled.")
    return redirect("analysis-detail", run_id=run.pk)


@page
@require_POST
def run_delete(request: HttpRequest, run_id: int) -> HttpResponse:
    """The run's owner and admins."""
    run = logic.get_run(request.user, run_id, for_result=False)
    name = run.name
    logic.delete_run(actor=request.user, run=run)
    messages.success(request, f"Deleted “{name}”.")
    return redirect("analysis-list")


def _int(value: str | None, where: str) -> int:
    try:
        return int(value or "")
    except ValueError:
        raise ValueError(f"{where}: choose a run") from None


@page
def run_compare(request: HttpRequest) -> HttpResponse:
    """Whoever may open both runs: their data, parameters and headline figures side by side."""
    try:
        compared = logic.compare(
            actor=request.user,
            first_id=_int(request.GET.get("first"), "first"),
            second_id=_int(request.GET.get("second"), "second"),
        )
    except ValueError as exc:
        messages.error(request, str(exc))
        return redirect("analysis-list")
    compared["kind_label"] = _kind_label(compared["kind"])
    return render(request, "analyses/compare.html", compared)
