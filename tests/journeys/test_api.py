"""The journeys API: results for a log spec, downloads, and who is refused."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from django.test import Client

from journeys.logs import event, land_events

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from c360.sources.models import DataSource
    from c360.warehouse import Warehouse

pytestmark = [
    # Woflan (the soundness check of the alpha net) warns about scipy; see test_discovery.py.
    pytest.mark.filterwarnings("ignore:solution from scipy may be unstable:UserWarning"),
    pytest.mark.filterwarnings("ignore:the matrix subclass is not:PendingDeprecationWarning"),
    pytest.mark.filterwarnings(
        "ignore:`method='revised simplex'` is deprecated:DeprecationWarning"
    ),
]

ROWS = [
    event("A", "visit", 0, channel="web"),
    event("A", "cart", 5, channel="web"),
    event("A", "order", 9, channel="web"),
    event("B", "visit", 0, channel="web"),
    event("B", "cart", 3, channel="web"),
    event("B", "order", 4, channel="web"),
    event("C", "visit", 1, channel="app"),
    event("C", "order", 30, channel="app"),
]


def _post(actor: User | str | None, path: str, body: dict[str, Any], status: int = 200) -> Any:
    client = Client()
    headers = {}
    if isinstance(actor, str):
        headers["HTTP_AUTHORIZATION"] = f"Bearer {actor}"
    elif actor is not None:
        client.force_login(actor)
    response = client.post(path, json.dumps(body), content_type="application/json", **headers)
    assert response.status_code == status, response.content
    return response


@pytest.fixture
def shop(db: None, warehouse: Warehouse) -> DataSource:
    from factories import make_admin, make_source

    source = make_source(owner=make_admin(), name="Web shop")
    land_events(warehouse, [dict(row) for row in ROWS], source_id=source.pk, batch_id=1, link=False)
    return source


def _spec(source: DataSource, **more: Any) -> dict[str, Any]:
    return {"spec": {"source_ids": [source.pk], "case": "column:customer_id", **more}}


def test_process_map_variants_and_case_stats(shop: DataSource) -> None:
    owner = shop.owner
    found = _post(owner, "/api/journeys/process-map", _spec(shop)).json()
    edges = {(e["source"], e["target"]): e for e in found["edges"]}
    assert (found["cases"], found["events"]) == (3, 8)
    assert edges[("visit", "cart")]["cases"] == 2
    assert edges[("cart", "order")]["mean_s"] == pytest.approx(150.0)
    assert found["start_activities"] == {"visit": 3}
    assert '"visit" -> "cart"' in found["dot"]

    top = _post(owner, "/api/journeys/variants", _spec(shop) | {"limit": 1}).json()
    assert top["total_variants"] == 2
    assert top["variants"] == [
        {
            "activities": ["visit", "cart", "order"],
            "cases": 2,
            "share": pytest.approx(2 / 3),
            "mean_s": pytest.approx(390.0),
            "median_s": pytest.approx(390.0),
        }
    ]
    stats = _post(owner, "/api/journeys/case-stats", _spec(shop) | {"bins": 4}).json()
    assert stats["cases"] == 3 and len(stats["duration_histogram"]) == 4

    web_only = _post(owner, "/api/journeys/variants", _spec(shop, channels=["web"])).json()
    assert web_only["total_cases"] == 2


def test_discovery_and_exports(shop: DataSource, monkeypatch: pytest.MonkeyPatch) -> None:
    from c360.journeys import exports

    monkeypatch.setattr(exports, "_PAGE_EVENTS", 3)  # the log is read in three pages
    owner = shop.owner
    body = _spec(shop) | {"params": {"algorithm": "alpha"}}
    model = _post(owner, "/api/journeys/discovery", body).json()
    assert model["variant"] == "alpha"
    assert {t["label"] for t in model["transitions"]} >= {"visit", "cart", "order"}
    assert model["quality"]["fitness"] is not None

    pnml = _post(owner, "/api/journeys/export/model.pnml", body)
    assert b"<pnml>" in pnml.content and b"visit" in pnml.content
    bpmn = _post(owner, "/api/journeys/export/model.bpmn", _spec(shop))
    assert b"bpmn" in bpmn.content and b"order" in bpmn.content
    svg = _post(owner, "/api/journeys/export/model.svg", _spec(shop))
    assert svg["Content-Type"] == "image/svg+xml" and b"<svg" in svg.content
    png = _post(owner, "/api/journeys/export/map.png", _spec(shop) | {"measure": "mean"})
    assert png.content.startswith(b"\x89PNG")
    map_svg = _post(owner, "/api/journeys/export/map.svg", _spec(shop)).content
    assert b"<svg" in map_svg and b"visit" in map_svg

    csv = b"".join(_post(owner, "/api/journeys/export/log.csv", _spec(shop)).streaming_content)
    lines = csv.decode().splitlines()
    assert lines[0].startswith('"case_id","activity","timestamp"')
    assert len(lines) == 9
    rows = [line.split(",")[:2] for line in lines[1:]]
    by_case: dict[str, list[str]] = {}
    for case, activity in rows:
        by_case.setdefault(case.strip('"'), []).append(activity.strip('"'))
    assert by_case == {
        "A": ["visit", "cart", "order"],
        "B": ["visit", "cart", "order"],
        "C": ["visit", "order"],
    }
    cases_in_file = [case for case, _ in rows]
    assert cases_in_file == sorted(cases_in_file, key=cases_in_file.index)  # each case together

    xes = b"".join(_post(owner, "/api/journeys/export/log.xes", _spec(shop)).streaming_content)
    from pm4py.objects.log.importer.xes import importer

    read_back = importer.apply(str(_write(xes)), variant=importer.Variants.ITERPARSE)
    assert [trace.attributes["concept:name"] for trace in read_back] == ["A", "B", "C"] or len(
        read_back
    ) == 3
    sequences = {
        trace.attributes["concept:name"]: [e["concept:name"] for e in trace] for trace in read_back
    }
    assert sequences == {
        "A": ["visit", "cart", "order"],
        "B": ["visit", "cart", "order"],
        "C": ["visit", "order"],
    }
    assert read_back[0][0]["time:timestamp"].tzinfo is not None


def _write(content: bytes) -> Any:
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "log.xes"
    path.write_bytes(content)
    return path


def test_who_may_analyse(shop: DataSource) -> None:
    from c360.accounts.logic import create_token
    from factories import grant, make_source, make_staff

    staff = make_staff()
    _post(None, "/api/journeys/process-map", _spec(shop), status=401)
    # a private source the staff member may not see: as if it did not exist
    _post(staff, "/api/journeys/process-map", _spec(shop), status=404)
    grant(source=shop, user=staff, can_import=True, can_analyze=False)
    refused = _post(staff, "/api/journeys/process-map", _spec(shop), status=403)
    assert "'analyze' permission" in refused.json()["error"]["message"]
    from c360.sources.models import Grant

    Grant.objects.filter(source=shop, user=staff).update(can_analyze=True)
    _post(staff, "/api/journeys/process-map", _spec(shop))

    importer = create_token(
        name="feed", created_by=shop.owner, source_ids=[shop.pk], permissions=["import"]
    )
    _post(importer.secret, "/api/journeys/variants", _spec(shop), status=403)
    reader = create_token(
        name="bi", created_by=shop.owner, source_ids=[shop.pk], permissions=["analyze"]
    )
    _post(reader.secret, "/api/journeys/variants", _spec(shop))
    other = make_source(owner=shop.owner, name="Other")
    both = {"spec": {"source_ids": [shop.pk, other.pk]}}
    _post(reader.secret, "/api/journeys/variants", both, status=404)  # not its source
    _post(shop.owner, "/api/journeys/variants", {"spec": {"source_ids": [999]}}, status=404)


def test_bad_specs_are_422_with_the_reason(shop: DataSource) -> None:
    owner = shop.owner
    bad = _post(owner, "/api/journeys/process-map", _spec(shop, case="colour"), status=422)
    assert "case: expected 'person'" in bad.json()["error"]["message"]
    bad = _post(owner, "/api/journeys/variants", _spec(shop, start="2024-03-01T00:00:00"), 422)
    assert "start: give the time zone" in bad.json()["error"]["message"]
    bad = _post(
        owner,
        "/api/journeys/discovery",
        _spec(shop) | {"params": {"algorithm": "heuristics", "dependency_threshold": 3}},
        status=422,
    )
    assert "dependency_threshold" in bad.json()["error"]["message"]


def test_journey_analyses_run_and_are_kept(shop: DataSource) -> None:
    from c360.analyses.logic import start_run

    spec = _spec(shop)["spec"]
    for kind, params in (
        ("process_map", {"measure": "median"}),
        ("variants", {"limit": 5}),
        ("discovery", {"algorithm": "heuristics"}),
    ):
        run = start_run(
            actor=shop.owner, kind=kind, name=None, spec=spec, params=params, background=False
        )
        assert run.status == "done", run.error
        assert run.result
    assert run.result["variant"] == "heuristics" and run.result["quality"]["fitness"] > 0
    with pytest.raises(ValueError, match="measure: expected one of"):
        start_run(
            actor=shop.owner, kind="process_map", name=None, spec=spec, params={"measure": "x"}
        )
