"""Journey pages: the new-analysis form, the process map (sliders, measures, cases behind an
activity or path), variants, case statistics, and the discovered models side by side.

A page works on a *subject*: a saved analysis run (`?run=<id>`, its stored result is drawn)
or a log spec given in the address (`?spec=<json>`, computed when the page is asked for).
Either way the user must be allowed to analyse every source of the log.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from c360.analyses import logic as analyses
from c360.analyses.models import AnalysisRun, RunStatus
from c360.journeys import drilldown, exports, maps, queries
from c360.journeys.eventlog import LogSpec, event_log
from c360.journeys.forms import KINDS, PARAM_FORMS, LogSpecForm, place_error
from c360.sources.logic import get_source
from c360.sources.models import DataSource, SourceKind
from c360.sources.permissions import Actor, can, visible_sources
from c360.warehouse import get_warehouse
from c360.web.views import page

MODEL_ALGORITHMS = (
    ("alpha", "Alpha miner"),
    ("heuristics", "Heuristic miner"),
    ("inductive", "Inductive miner"),
)
_JOURNEY_RUN_KINDS = ("process_map", "variants", "discovery")
_EXPORTS = {
    "log.csv": "text/csv; charset=utf-8",
    "log.xes": "application/xml",
    "map.svg": "image/svg+xml",
    "map.png": "image/png",
    "model.pnml": "application/xml",
    "model.bpmn": "application/xml",
    "model.svg": "image/svg+xml",
    "model.png": "image/png",
}


# -- the log a page is about ----------------------------------------------------------------
def check_spec(actor: Actor, data: Any) -> LogSpec:
    """The spec, once the actor may analyse each of its sources and each holds events
    (NotFound for a source they may not see, NotAllowed for one they may not analyse)."""
    spec = LogSpec.from_dict(data)
    for source_id in spec.source_ids:
        source = get_source(actor, source_id, action="analyze")
        if source.kind != SourceKind.EVENTS:
            raise ValueError(
                f"source_ids: source {source_id} ({source.name}) holds {source.kind}, not events"
            )
    return spec


@dataclass
class Subject:
    spec: LogSpec
    run: AnalysisRun | None
    cluster: str | None = None  # "<clustering run>:<cluster>", when the log is one cluster's

    @property
    def query(self) -> str:
        """The address parameters naming this subject, for links and fragments."""
        if self.run is not None:
            return urlencode({"run": self.run.pk})
        if self.cluster is not None:  # its case ids would make the address too long
            return urlencode({"cluster": self.cluster})
        return urlencode({"spec": json.dumps(self.spec.to_dict(), separators=(",", ":"))})

    @property
    def person_cases(self) -> bool:
        return self.spec.case == "person"

    def log(self) -> Any:
        return event_log(get_warehouse(), self.spec)

    def stored_map(self) -> queries.ProcessMap | None:
        if self.run is not None and self.run.kind == "process_map" and self.run.result:
            return maps.process_map_from_dict(self.run.result)
        return None

    def full_map(self) -> queries.ProcessMap:
        return self.stored_map() or queries.process_map(self.log())


def _subject(request: HttpRequest) -> Subject:
    """The run (`run=`) or log spec (`spec=`) of the request; ValueError when neither is
    valid, NotFound/NotAllowed when the user may not analyse it."""
    params = request.GET if request.method == "GET" else request.POST
    run_id = params.get("run")
    if run_id:
        try:
            number = int(run_id)
        except ValueError:
            raise ValueError(f"run: expected a run number, got {run_id!r}") from None
        run = analyses.get_run(request.user, number)
        return Subject(spec=check_spec(request.user, run.spec), run=run)
    cluster = params.get("cluster")
    if cluster:
        return _cluster_subject(request.user, cluster)
    text = params.get("spec")
    if not text:
        raise ValueError("spec: say which event log to show (a run, a cluster or a log spec)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"spec: not valid JSON ({exc.msg} at character {exc.pos})") from None
    return Subject(spec=check_spec(request.user, data), run=None)


def _cluster_subject(user: Actor, value: str) -> Subject:
    """The log of a clustering run restricted to the cases of one of its clusters."""
    run_id, _, number = value.partition(":")
    if not run_id.isdigit() or not number.isdigit():
        raise ValueError(f"cluster: expected <run>:<cluster>, got {value!r}")
    run = analyses.get_run(user, int(run_id))
    if run.kind != "clustering":
        raise ValueError(f"cluster: run #{run.pk} is a {run.kind} run, not a clustering")
    cases = _cluster_cases(user, value, str(run.spec.get("case")))
    spec = check_spec(user, {**run.spec, "cases": cases})
    return Subject(spec=spec, run=None, cluster=value)


def _invalid(request: HttpRequest, message: str, *, fragment: bool = False) -> HttpResponse:
    template = "journeys/_invalid.html" if fragment else "journeys/invalid.html"
    # A fragment answers 200 so that htmx shows the message in place.
    return render(request, template, {"message": message}, status=200 if fragment else 400)


def _source_names(spec: LogSpec) -> list[str]:
    return list(
        DataSource.objects.filter(pk__in=spec.source_ids)
        .order_by("name")
        .values_list("name", flat=True)
    )


def _percent(request: HttpRequest, name: str) -> float:
    raw = request.GET.get(name, "100")
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name}: expected a percentage from 0 to 100, got {raw!r}") from None


# -- the new-analysis form ------------------------------------------------------------------
def _analysable(user: Actor) -> list[DataSource]:
    events = visible_sources(user).filter(kind=SourceKind.EVENTS).order_by("name")
    return [source for source in events if can(user, "analyze", source)]


def _cluster_choices(user: Actor) -> list[tuple[str, str]]:
    choices = []
    runs = analyses.visible_runs(user).filter(kind="clustering", status=RunStatus.DONE)[:30]
    for run in runs:
        for cluster in (run.result or {}).get("clusters", []):
            choices.append(
                (
                    f"{run.pk}:{cluster['cluster']}",
                    f"#{run.pk} {run.name} · cluster {cluster['cluster']} "
                    f"({cluster['size']:,} cases)",
                )
            )
    return choices


def _cluster_cases(user: Actor, value: str, case: str) -> list[str] | None:
    """The case ids of the chosen cluster, if it clustered cases of the same kind."""
    if not value:
        return None
    run_id, _, number = value.partition(":")
    run = analyses.get_run(user, int(run_id))
    if run.spec.get("case") != case:
        raise ValueError(
            f"cluster: run #{run.pk} grouped cases by {run.spec.get('case')!r}, but this "
            f"analysis makes cases by {case!r}; choose the same case"
        )
    for cluster in (run.result or {}).get("clusters", []):
        if str(cluster["cluster"]) == number:
            return [str(case_id) for case_id in cluster["case_ids"]]
    raise ValueError(f"cluster: run #{run.pk} has no cluster {number}")


def _case_value(spec_form: LogSpecForm) -> str:
    data = spec_form.cleaned_data
    if data["case"] in ("column", "property"):
        return f"{data['case']}:{(data.get('case_field') or '').strip()}"
    return str(data["case"])


def _load_pm4py() -> None:
    """Import pm4py before starting discovery runs: two run threads importing it at once
    deadlock on Python's module locks (seen as _DeadlockError in pm4py.algo.discovery)."""
    import pm4py  # noqa: F401


def _start(
    request: HttpRequest, kind: str, spec_form: LogSpecForm, params_form: forms.Form
) -> HttpResponse:
    user = request.user
    cluster = _cluster_cases(
        user, spec_form.cleaned_data.get("cluster") or "", _case_value(spec_form)
    )
    spec = spec_form.spec_dict(cluster)
    name = spec_form.cleaned_data.get("name") or None
    params = params_form.params()  # type: ignore[attr-defined]
    if request.POST.get("action") == "live" and kind == "process_map":
        checked = check_spec(user, spec)
        query = urlencode({"spec": json.dumps(checked.to_dict(), separators=(",", ":"))})
        return redirect(f"{reverse('journey-map')}?{query}")
    if kind == "models":
        _load_pm4py()
        runs = [
            analyses.start_run(
                actor=user,
                kind="discovery",
                name=f"{name} · {label}" if name else None,
                spec=spec,
                params={**params, "algorithm": algorithm},
            )
            for algorithm, label in MODEL_ALGORITHMS
        ]
        ids = ",".join(str(run.pk) for run in runs)
        return redirect(f"{reverse('journey-models')}?runs={ids}")
    run = analyses.start_run(actor=user, kind=kind, name=name, spec=spec, params=params)
    if kind in _JOURNEY_RUN_KINDS:
        return redirect("journey-run", run_id=run.pk)
    return redirect("analysis-detail", run_id=run.pk)


@page
def new_analysis(request: HttpRequest) -> HttpResponse:
    """Anyone logged in; the form offers the event sources they may analyse, and starting a
    run checks that again (a source they may not analyse gets the 403 page)."""
    kind = request.GET.get("kind") or "process_map"
    if kind not in KINDS:
        return _invalid(request, f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    sources = _analysable(request.user)
    source_choices = [(str(s.pk), s.name) for s in sources]
    clusters = _cluster_choices(request.user)
    params_class = PARAM_FORMS[kind]
    if request.method == "POST":
        spec_form = LogSpecForm(request.POST, sources=source_choices, clusters=clusters)
        params_form = params_class(request.POST, prefix="p")
        if spec_form.is_valid() and params_form.is_valid():
            try:
                return _start(request, kind, spec_form, params_form)
            except ValueError as exc:
                place_error(str(exc), spec_form, params_form)
        status = 422
    else:
        initial = {"sources": [source_choices[0][0]]} if len(source_choices) == 1 else {}
        spec_form = LogSpecForm(initial=initial, sources=source_choices, clusters=clusters)
        params_form = params_class(prefix="p")
        status = 200
    recent = analyses.visible_runs(request.user).filter(owner_id=request.user.pk)[:8]
    context = {
        "kind": kind,
        "kinds": KINDS,
        "kind_label": KINDS[kind],
        "spec_form": spec_form,
        "params_form": params_form,
        "has_sources": bool(sources),
        "recent": recent,
    }
    return render(request, "journeys/new.html", context, status=status)


# -- a run --------------------------------------------------------------------------------
@page
def run_page(request: HttpRequest, run_id: int) -> HttpResponse:
    """The run's owner (still allowed to analyse its sources) and admins: progress, then the
    process map or variants it stored."""
    run = analyses.get_run(request.user, run_id)
    if run.kind == "discovery":
        return redirect(f"{reverse('journey-models')}?runs={run.pk}")
    if run.kind not in _JOURNEY_RUN_KINDS:
        return redirect("analysis-detail", run_id=run.pk)
    if run.status != RunStatus.DONE:
        return render(request, "journeys/run_progress.html", {"run": run})
    subject = Subject(spec=check_spec(request.user, run.spec), run=run)
    if run.kind == "variants":
        context = {
            "subject": subject,
            "sources": _source_names(subject.spec),
            "variants": run.result,
        }
        return render(request, "journeys/variants.html", context)
    stored = run.result if isinstance(run.result, dict) else {}
    return _map_page(request, subject, stats=stored.get("case_stats"))


# -- the process map ----------------------------------------------------------------------
def _draw(
    subject: Subject, *, activities: float, paths: float, measure: str
) -> tuple[maps.DrawnMap, str, queries.ProcessMap]:
    full = subject.full_map()
    kept = maps.top_activities(full, activities)
    if len(kept) < len(full.activities):
        # The log projected onto the kept activities: paths reconnect around the others.
        projected = queries.process_map(
            event_log(get_warehouse(), replace(subject.spec, activities=tuple(kept)))
        )
    else:
        projected = full
    drawn = maps.simplify(projected, total_activities=len(full.activities), paths=paths)
    return drawn, maps.map_dot(drawn, measure=measure), full


def _map_payload(subject: Subject, drawn: maps.DrawnMap, dot: str, measure: str) -> dict[str, Any]:
    return {
        "dot": dot,
        "measure": measure,
        "elements": drawn.elements,
        "activities": len(drawn.activities),
        "totalActivities": drawn.total_activities,
        "edges": len(drawn.edges),
        "totalEdges": drawn.total_edges,
        "added": drawn.added_for_connection,
        "cases": drawn.cases,
        "casesUrl": f"{reverse('journey-cases')}?{subject.query}",
    }


def _map_page(
    request: HttpRequest, subject: Subject, *, stats: dict[str, Any] | None
) -> HttpResponse:
    drawn, dot, full = _draw(subject, activities=100, paths=100, measure="cases")
    if stats is None:
        stats = asdict(queries.case_stats(subject.log()))
    context = {
        "subject": subject,
        "sources": _source_names(subject.spec),
        "full": full,
        "payload": _map_payload(subject, drawn, dot, "cases"),
        "spec_json": json.dumps(subject.spec.to_dict(), separators=(",", ":")),
        "stats": stats,
        "measures": [
            ("cases", "Case frequency"),
            ("frequency", "Absolute frequency"),
            ("mean", "Mean duration"),
            ("median", "Median duration"),
        ],
    }
    return render(request, "journeys/map.html", context)


@page
def live_map(request: HttpRequest) -> HttpResponse:
    """Anyone who may analyse every source of the log in the address: its process map,
    variants and case statistics, computed now."""
    try:
        subject = _subject(request)
    except ValueError as exc:
        return _invalid(request, str(exc))
    if subject.run is not None:
        return redirect("journey-run", run_id=subject.run.pk)
    return _map_page(request, subject, stats=None)


@page
def map_draw(request: HttpRequest) -> HttpResponse:
    """As the map page: the map again for the sliders and measure (htmx)."""
    try:
        subject = _subject(request)
        measure = request.GET.get("measure") or "cases"
        drawn, dot, _ = _draw(
            subject,
            activities=_percent(request, "activities"),
            paths=_percent(request, "paths"),
            measure=measure,
        )
    except ValueError as exc:
        return _invalid(request, str(exc), fragment=True)
    context = {"payload": _map_payload(subject, drawn, dot, measure)}
    return render(request, "journeys/_map_draw.html", context)


@page
def cases_panel(request: HttpRequest) -> HttpResponse:
    """As the map page: the cases through an activity (`activity=`) or along a path
    (`edge=1` with `source=` and/or `target=`; without one, the start or end)."""
    try:
        subject = _subject(request)
        log = subject.log()
        limit = 100
        if "activity" in request.GET:
            what = request.GET["activity"]
            found = drilldown.cases_through_activity(log, what, limit=limit)
        elif request.GET.get("edge"):
            source = request.GET.get("source") or None
            target = request.GET.get("target") or None
            found = drilldown.cases_through_edge(log, source, target, limit=limit)
            what = f"{source or 'start'} → {target or 'end'}"
        else:
            raise ValueError("say which activity (activity=) or path (edge=1, source=, target=)")
    except ValueError as exc:
        return _invalid(request, str(exc), fragment=True)
    context = {
        "what": what,
        "found": found,
        "person_cases": subject.person_cases,
        "subject": subject,
    }
    return render(request, "journeys/_cases.html", context)


@page
def variants_panel(request: HttpRequest) -> HttpResponse:
    """As the map page: the most frequent variants of the log (htmx)."""
    try:
        subject = _subject(request)
        found = queries.variants(subject.log(), limit=50)
    except ValueError as exc:
        return _invalid(request, str(exc), fragment=True)
    return render(request, "journeys/_variants.html", {"variants": asdict(found)})


# -- models side by side --------------------------------------------------------------------
def _run_ids(raw: str) -> list[int]:
    try:
        ids = [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"runs: expected run numbers separated by commas, got {raw!r}") from None
    if not 1 <= len(ids) <= 6:
        raise ValueError("runs: show 1 to 6 discovery runs side by side")
    return ids


@page
def models(request: HttpRequest) -> HttpResponse:
    """Whoever may open each run: discovery runs side by side, each drawn with its quality
    figures and downloads; runs under way show their progress."""
    try:
        ids = _run_ids(request.GET.get("runs", ""))
    except ValueError as exc:
        return _invalid(request, str(exc))
    shown: list[dict[str, Any]] = []
    runs: list[AnalysisRun] = []
    for run_id in ids:
        run = analyses.get_run(request.user, run_id)
        if run.kind != "discovery":
            return _invalid(request, f"runs: run #{run.pk} is a {run.kind} run, not a discovery")
        model = run.result if run.status == RunStatus.DONE else None
        runs.append(run)
        shown.append(
            {
                "run": run,
                "model": model,
                "dot": maps.petri_dot(model) if model else "",
                "dot_id": f"model-dot-{run.pk}",
                "export": urlencode({"run": run.pk}),
            }
        )
    first = runs[0]
    context = {
        "models": shown,
        "spec": first.spec,
        "sources": _source_names(LogSpec.from_dict(first.spec)),
        "log_query": urlencode({"run": first.pk}),
        "under_way": any(not run.is_finished for run in runs),
    }
    return render(request, "journeys/models.html", context)


@page
@require_POST
def models_start(request: HttpRequest) -> HttpResponse:
    """Anyone who may analyse every source of the log: Alpha, Heuristic and Inductive runs
    on it, then the page that shows them side by side."""
    try:
        subject = _subject(request)
    except ValueError as exc:
        return _invalid(request, str(exc))
    _load_pm4py()
    runs = [
        analyses.start_run(
            actor=request.user,
            kind="discovery",
            name=None,
            spec=subject.spec.to_dict(),
            params={"algorithm": algorithm},
        )
        for algorithm, _label in MODEL_ALGORITHMS
    ]
    return redirect(f"{reverse('journey-models')}?runs={','.join(str(r.pk) for r in runs)}")


# -- downloads ----------------------------------------------------------------------------
@page
def export(request: HttpRequest, name: str) -> HttpResponse:
    """Whoever may analyse the log: the log as CSV/XES, the map (with the page's measure and
    sliders) as SVG/PNG, or a discovery run's model as PNML/BPMN/SVG/PNG."""
    from django.http import StreamingHttpResponse

    from c360.journeys import discovery

    if name not in _EXPORTS:
        return _invalid(request, f"download: expected one of {', '.join(_EXPORTS)}, got {name!r}")
    try:
        subject = _subject(request)
        what, fmt = name.split(".")
        response: HttpResponse | StreamingHttpResponse
        if what == "log":
            stream = (
                exports.log_csv(subject.log()) if fmt == "csv" else exports.log_xes(subject.log())
            )
            response = StreamingHttpResponse(stream, content_type=_EXPORTS[name])
        elif what == "map":
            _, dot, _ = _draw(
                subject,
                activities=_percent(request, "activities"),
                paths=_percent(request, "paths"),
                measure=request.GET.get("measure") or "cases",
            )
            picture = exports.render_dot(dot, image_format=fmt)
            response = HttpResponse(picture, content_type=_EXPORTS[name])
        else:
            if subject.run is None or subject.run.kind != "discovery":
                raise ValueError("download: a model comes from a discovery run (run=)")
            params = {**subject.run.params, "quality": False}
            model = discovery.discover(subject.log(), discovery.DiscoveryParams.from_dict(params))
            if fmt == "pnml":
                content = exports.pnml(model.net)
            elif fmt == "bpmn":
                content = exports.bpmn(model.net, model.tree)
            else:
                content = exports.model_image(model.net, image_format=fmt)
            name = f"{model.algorithm}-model.{fmt}"
            response = HttpResponse(content, content_type=_EXPORTS[f"model.{fmt}"])
    except ValueError as exc:
        return _invalid(request, str(exc))
    filename = (
        name if what == "model" else f"{'event-log' if what == 'log' else 'process-map'}.{fmt}"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response  # type: ignore[return-value]
