"""Journeys API: process maps, variants, case statistics, discovered models and exports of an
event log described in the request body."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from ninja import Router, Schema

from c360.accounts.auth import token_or_session
from c360.journeys import discovery, drilldown, exports, queries
from c360.journeys.eventlog import LogSpec, event_log
from c360.sources.logic import get_source
from c360.sources.models import SourceKind
from c360.sources.permissions import Actor
from c360.warehouse import get_warehouse
from c360.web.errors import ErrorOut

router = Router(tags=["journeys"], auth=token_or_session)

_ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


def _actor(request: HttpRequest) -> Actor:
    return request.auth  # type: ignore[attr-defined,no-any-return]


# -- request bodies ---------------------------------------------------------------------------
class LogSpecIn(Schema):
    source_ids: list[int]
    case: str = "person"
    activity: list[str] = ["event"]
    start: datetime | None = None
    end: datetime | None = None
    channels: list[str] = []
    activities: list[str] = []
    attributes: dict[str, list[str]] = {}
    containing: list[str] = []
    not_containing: list[str] = []
    cases: list[str] | None = None


class DiscoveryParamsIn(Schema):
    algorithm: Literal["alpha", "heuristics", "inductive"] = "inductive"
    dependency_threshold: float = 0.5
    and_threshold: float = 0.65
    loop_two_threshold: float = 0.5
    min_activity_count: int = 1
    min_edge_frequency: int = 1
    inductive_variant: Literal["auto", "IMd", "IMf"] = "auto"
    noise_threshold: float = 0.0
    quality: bool = True
    time_limit_s: float = 60.0


class LogIn(Schema):
    spec: LogSpecIn


class ProcessMapIn(LogIn):
    measure: Literal["cases", "frequency", "mean", "median"] = "cases"


class VariantsIn(LogIn):
    limit: int = 100


class CaseStatsIn(LogIn):
    bins: int = 20


class DiscoveryIn(LogIn):
    params: DiscoveryParamsIn = DiscoveryParamsIn()


class CasesIn(LogIn):
    activity: str | None = None  # the cases through this activity, or
    source: str | None = None  # along the edge source -> target (null: the start / the end)
    target: str | None = None
    limit: int = 100


# -- answers ----------------------------------------------------------------------------------
class ActivityOut(Schema):
    name: str
    events: int
    cases: int
    starts: int
    ends: int


class EdgeOut(Schema):
    source: str
    target: str
    frequency: int
    cases: int
    mean_s: float
    median_s: float


class ProcessMapOut(Schema):
    cases: int
    events: int
    activities: list[ActivityOut]
    edges: list[EdgeOut]
    start_activities: dict[str, int]
    end_activities: dict[str, int]
    dot: str  # the map in Graphviz DOT, edges labelled with the chosen measure


class VariantOut(Schema):
    activities: list[str]
    cases: int
    share: float
    mean_s: float
    median_s: float


class VariantsOut(Schema):
    total_cases: int
    total_variants: int
    variants: list[VariantOut]


class HistogramBinOut(Schema):
    low: float
    high: float
    cases: int


class CaseStatsOut(Schema):
    cases: int
    events: int
    events_per_case: dict[str, float]
    duration_s: dict[str, float]
    duration_histogram: list[HistogramBinOut]
    events_histogram: list[dict[str, int]]


class QualityOut(Schema):
    fitness: float | None
    precision: float | None
    fitting_cases: float | None
    replayed_variants: int
    total_variants: int
    replayed_cases: int
    total_cases: int
    cut_short: bool
    seconds: float
    note: str


class ModelOut(Schema):
    algorithm: str
    variant: str
    input: str
    places: list[dict[str, Any]]
    transitions: list[dict[str, Any]]
    arcs: list[dict[str, str]]
    process_tree: str | None
    sound: bool | None
    soundness_note: str
    quality: QualityOut | None
    seconds: float
    notes: list[str]


class CaseRowOut(Schema):
    case_id: str
    times: int
    events: int
    start: datetime
    end: datetime
    duration_s: float


class CasesOut(Schema):
    cases: int
    rows: list[CaseRowOut]
    person_cases: bool  # case ids are person ids (profiles at /customers/<case_id>/)


# -- helpers ----------------------------------------------------------------------------------
def log_spec(actor: Actor, spec: LogSpecIn) -> LogSpec:
    """The spec, once the actor may analyse each of its sources and each holds events."""
    data = spec.dict()
    parsed = LogSpec.from_dict(data)
    for source_id in parsed.source_ids:
        source = get_source(actor, source_id, action="analyze")
        if source.kind != SourceKind.EVENTS:
            raise ValueError(
                f"source_ids: source {source_id} ({source.name}) holds {source.kind}, not events"
            )
    return parsed


def _log(request: HttpRequest, body: LogIn) -> Any:
    return event_log(get_warehouse(), log_spec(_actor(request), body.spec))


def _params(params: DiscoveryParamsIn) -> discovery.DiscoveryParams:
    return discovery.DiscoveryParams.from_dict(params.dict())


def _map_out(pmap: queries.ProcessMap, measure: str) -> dict[str, Any]:
    return {
        **asdict(pmap),
        "start_activities": pmap.start_activities,
        "end_activities": pmap.end_activities,
        "dot": exports.dfg_dot(pmap, measure=measure),
    }


def _download(content: bytes | Iterator[bytes], *, filename: str, content_type: str) -> Any:
    if isinstance(content, bytes):
        response: Any = HttpResponse(content, content_type=content_type)
    else:
        response = StreamingHttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _file_doc(description: str, media_type: str) -> dict[str, Any]:
    return {
        "responses": {
            200: {
                "description": description,
                "content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
            }
        }
    }


_IMAGE_TYPES = {"svg": "image/svg+xml", "png": "image/png"}


# -- endpoints --------------------------------------------------------------------------------
@router.post(
    "/journeys/process-map",
    response={200: ProcessMapOut, **_ERRORS},
    operation_id="journeys_process_map",
)
def process_map(request: HttpRequest, body: ProcessMapIn) -> dict[str, Any]:
    """Who: anyone who may analyse every source of the log, and API tokens with analyze on all.

    The directly-follows graph of the log: per edge its frequency, the cases it occurs in and
    the mean and median time between the two activities; per activity its events, cases and
    how many cases start and end with it; the map as Graphviz DOT.
    """
    return _map_out(queries.process_map(_log(request, body)), body.measure)


@router.post(
    "/journeys/variants",
    response={200: VariantsOut, **_ERRORS},
    operation_id="journeys_variants",
)
def variants(request: HttpRequest, body: VariantsIn) -> dict[str, Any]:
    """Who: anyone who may analyse every source of the log, and API tokens with analyze on all.

    The variants (distinct sequences of activities), most frequent first, with their cases,
    share of all cases and mean and median duration.
    """
    if not 1 <= body.limit <= 10_000:
        raise ValueError(f"limit: expected 1 to 10000 variants, got {body.limit}")
    return asdict(queries.variants(_log(request, body), limit=body.limit))


@router.post(
    "/journeys/case-stats",
    response={200: CaseStatsOut, **_ERRORS},
    operation_id="journeys_case_stats",
)
def case_stats(request: HttpRequest, body: CaseStatsIn) -> dict[str, Any]:
    """Who: anyone who may analyse every source of the log, and API tokens with analyze on all.

    How many cases, their events per case and durations, with histograms.
    """
    return asdict(queries.case_stats(_log(request, body), bins=body.bins))


@router.post(
    "/journeys/cases",
    response={200: CasesOut, **_ERRORS},
    operation_id="journeys_cases",
)
def cases(request: HttpRequest, body: CasesIn) -> dict[str, Any]:
    """Who: anyone who may analyse every source of the log, and API tokens with analyze on all.

    The cases through an activity, or along the edge source → target of the process map (a
    null source: the cases starting with target; a null target: those ending with source):
    how many, and the first `limit` with their events and duration, most passages first.
    """
    spec = log_spec(_actor(request), body.spec)
    log = event_log(get_warehouse(), spec)
    if body.activity is not None:
        if body.source is not None or body.target is not None:
            raise ValueError("activity: give an activity or an edge (source, target), not both")
        found = drilldown.cases_through_activity(log, body.activity, limit=body.limit)
    else:
        found = drilldown.cases_through_edge(log, body.source, body.target, limit=body.limit)
    return {**asdict(found), "person_cases": spec.case == "person"}


@router.post(
    "/journeys/discovery",
    response={200: ModelOut, **_ERRORS},
    operation_id="journeys_discover",
)
def discover(request: HttpRequest, body: DiscoveryIn) -> dict[str, Any]:
    """Who: anyone who may analyse every source of the log, and API tokens with analyze on all.

    A process model discovered by the Alpha, Heuristic or Inductive miner (IMd from the DFG,
    or IMf on the variants when a noise threshold is set and the log has few enough): its
    Petri net, process tree, soundness and token-replay fitness and precision.
    """
    model = discovery.discover(_log(request, body), _params(body.params))
    return model.to_dict()


@router.post(
    "/journeys/export/log.csv",
    response={200: None, **_ERRORS},
    operation_id="journeys_export_log_csv",
    openapi_extra=_file_doc("The event log as CSV, case by case in order.", "text/csv"),
)
def export_log_csv(request: HttpRequest, body: LogIn) -> Any:
    """Who: anyone who may analyse every source of the log, and API tokens with analyze on all.

    The filtered event log as CSV (case_id, activity, timestamp, event_id, source_id, channel).
    """
    return _download(
        exports.log_csv(_log(request, body)),
        filename="event-log.csv",
        content_type="text/csv; charset=utf-8",
    )


@router.post(
    "/journeys/export/log.xes",
    response={200: None, **_ERRORS},
    operation_id="journeys_export_log_xes",
    openapi_extra=_file_doc("The event log as XES.", "application/xml"),
)
def export_log_xes(request: HttpRequest, body: LogIn) -> Any:
    """Who: anyone who may analyse every source of the log, and API tokens with analyze on all.

    The filtered event log as XES (IEEE 1849), for other process-mining tools.
    """
    return _download(
        exports.log_xes(_log(request, body)),
        filename="event-log.xes",
        content_type="application/xml",
    )


@router.post(
    "/journeys/export/map.{image_format}",
    response={200: None, **_ERRORS},
    operation_id="journeys_export_map",
    openapi_extra=_file_doc("The process map drawn by Graphviz.", "image/svg+xml"),
)
def export_map(
    request: HttpRequest, image_format: Literal["svg", "png"], body: ProcessMapIn
) -> Any:
    """Who: anyone who may analyse every source of the log, and API tokens with analyze on all.

    The process map as an SVG or PNG picture, edges labelled with the chosen measure.
    """
    pmap = queries.process_map(_log(request, body))
    picture = exports.render_dot(
        exports.dfg_dot(pmap, measure=body.measure), image_format=image_format
    )
    return _download(
        picture, filename=f"process-map.{image_format}", content_type=_IMAGE_TYPES[image_format]
    )


@router.post(
    "/journeys/export/model.{model_format}",
    response={200: None, **_ERRORS},
    operation_id="journeys_export_model",
    openapi_extra=_file_doc("The discovered model as PNML, BPMN, SVG or PNG.", "application/xml"),
)
def export_model(
    request: HttpRequest,
    model_format: Literal["pnml", "bpmn", "svg", "png"],
    body: DiscoveryIn,
) -> Any:
    """Who: anyone who may analyse every source of the log, and API tokens with analyze on all.

    The model the discovery parameters give, as PNML (Petri net with markings), BPMN 2.0,
    or a picture of its Petri net; quality figures are not computed for an export.
    """
    params = body.params.dict() | {"quality": False}
    model = discovery.discover(_log(request, body), discovery.DiscoveryParams.from_dict(params))
    name = f"{model.algorithm}-model.{model_format}"
    if model_format == "pnml":
        return _download(exports.pnml(model.net), filename=name, content_type="application/xml")
    if model_format == "bpmn":
        return _download(
            exports.bpmn(model.net, model.tree), filename=name, content_type="application/xml"
        )
    picture = exports.model_image(model.net, image_format=model_format)
    return _download(picture, filename=name, content_type=_IMAGE_TYPES[model_format])
