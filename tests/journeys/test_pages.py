"""The journey pages through Django's test client: the new-analysis form, the process map
with its sliders, measures and case panel, variants, models side by side, downloads, and who
may see them."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from c360.analyses import logic as analyses
from c360.analyses.models import AnalysisRun, RunStatus
from c360.sources.models import DataSource, SourceKind, Visibility
from factories import grant, make_admin, make_source, make_staff, wait_for
from journeys.logs import event, land_events

if TYPE_CHECKING:
    from c360.warehouse import Warehouse


class Shop:
    def __init__(self) -> None:
        self.admin = make_admin("root")
        self.analyst = make_staff("ana")
        self.viewer = make_staff("vic")  # sees the shop (a grant) but may not analyse it
        self.bystander = make_staff("bert")  # no grant on the private source
        self.shop = make_source(owner=self.admin, name="Shop", visibility=Visibility.PUBLIC)
        self.private = make_source(owner=self.admin, name="Back office")
        self.orders = make_source(owner=self.admin, name="Orders", kind=SourceKind.ORDERS)
        grant(source=self.shop, user=self.analyst, can_analyze=True)
        grant(source=self.shop, user=self.viewer, can_import=False, can_analyze=False)

    def spec(self, **more: Any) -> dict[str, Any]:
        return {"source_ids": [self.shop.pk], "case": "column:customer_id", **more}


def _shop_events() -> list[dict[str, Any]]:
    """20 visitors: home, product, then even ones order (after a cart), odd ones leave;
    v00 and v04 go back home once before the cart."""
    rows = []
    for i in range(20):
        case, start = f"v{i:02d}", i * 60
        device = "desktop" if i % 2 == 0 else "mobile"
        rows.append(event(case, "home", start, device_category=device, channel="web"))
        rows.append(event(case, "product", start + 2, device_category=device, channel="web"))
        if i in (0, 4):
            rows.append(event(case, "home", start + 3, channel="web"))
            rows.append(event(case, "product", start + 4, channel="web"))
        if i % 2 == 0:
            rows.append(event(case, "cart", start + 5, channel="web"))
            rows.append(event(case, "order", start + 65, channel="web"))
        else:
            rows.append(event(case, "leave", start + 3, channel="web"))
    return rows


@pytest.fixture
def shop(db: None, warehouse: Warehouse) -> Shop:
    world = Shop()
    land_events(warehouse, _shop_events(), source_id=world.shop.pk, batch_id=1)
    land_events(
        warehouse, [event("x1", "call", 0)], source_id=world.private.pk, batch_id=2, link=False
    )
    return world


def client_for(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _q(spec: dict[str, Any], **more: Any) -> str:
    return urlencode({"spec": json.dumps(spec), **more})


def _payload(html: str) -> dict[str, Any]:
    found = re.search(r'<script id="map-data" type="application/json">(.*?)</script>', html, re.S)
    assert found, html[:2000]
    return json.loads(found.group(1))  # type: ignore[no-any-return]


def _labels(payload: dict[str, Any]) -> dict[tuple[str | None, str | None], str]:
    return {
        (e["source"], e["target"]): e["label"]
        for e in payload["elements"].values()
        if e["kind"] == "edge"
    }


def _form(shop: Shop, **more: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "sources": [str(shop.shop.pk)],
        "case": "column",
        "case_field": "customer_id",
        "activity": "event",
        "p-bins": "10",
    }
    data.update(more)
    return data


# -- who may see the pages -------------------------------------------------------------------
def test_anonymous_visitors_are_sent_to_log_in(shop: Shop) -> None:
    query = _q(shop.spec())
    for url in (
        reverse("journey-new"),
        f"{reverse('journey-map')}?{query}",
        f"{reverse('journey-map-draw')}?{query}",
        f"{reverse('journey-cases')}?{query}&activity=home",
        f"{reverse('journey-variants')}?{query}",
        f"{reverse('journey-models')}?runs=1",
        f"{reverse('journey-export', args=['log.csv'])}?{query}",
        reverse("journey-run", args=[1]),
    ):
        response = client_for(None).get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


def test_a_source_the_user_may_not_analyse_is_refused(shop: Shop) -> None:
    query = _q(shop.spec())
    for url in (
        f"{reverse('journey-map')}?{query}",
        f"{reverse('journey-map-draw')}?{query}",
        f"{reverse('journey-cases')}?{query}&activity=home",
        f"{reverse('journey-variants')}?{query}",
        f"{reverse('journey-export', args=['log.csv'])}?{query}",
    ):
        # The viewer sees the shop but may not analyse it: the 403 page.
        assert client_for(shop.viewer).get(url).status_code == 403, url
        # Someone without any grant does not learn that a private source exists.
        assert client_for(shop.bystander).get(url.replace(str(shop.shop.pk), "0")).status_code in (
            404,
            400,
        )
    private = _q({"source_ids": [shop.private.pk]})
    assert client_for(shop.analyst).get(f"{reverse('journey-map')}?{private}").status_code == 404
    mixed = _q({"source_ids": [shop.shop.pk, shop.private.pk]})
    assert client_for(shop.analyst).get(f"{reverse('journey-map')}?{mixed}").status_code == 404
    assert client_for(shop.analyst).get(f"{reverse('journey-map')}?{query}").status_code == 200


def test_the_form_offers_only_event_sources_the_user_may_analyse(shop: Shop) -> None:
    page = client_for(shop.analyst).get(reverse("journey-new")).content.decode()
    assert "Shop" in page and "Back office" not in page and "Orders" not in page
    viewer = client_for(shop.viewer).get(reverse("journey-new")).content.decode()
    assert "No event source to analyse" in viewer and 'name="sources"' not in viewer
    admin = client_for(shop.admin).get(reverse("journey-new")).content.decode()
    assert "Back office" in admin and ">Orders<" not in admin
    # A forged source id is not one of the choices.
    forged = client_for(shop.analyst).post(
        reverse("journey-new"), _form(shop, sources=[str(shop.private.pk)])
    )
    assert forged.status_code == 422
    assert AnalysisRun.objects.count() == 0


@pytest.mark.parametrize(
    ("more", "field", "message"),
    [
        ({"case_field": ""}, "case_field", "name the column a case is identified by"),
        ({"activity": "event, colour"}, "activity", "&#x27;colour&#x27; is not an event column"),
        (
            {"start": "2024-03-02T00:00", "end": "2024-03-01T00:00"},
            "end",
            "the time range is empty",
        ),
        ({"attributes": "geo_country NL"}, "attributes", "is not “column = value, value”"),
        (
            {"containing": "order", "not_containing": "order"},
            "not_containing",
            "is also in containing",
        ),
        ({"p-bins": "500"}, "p-bins", "less than or equal to 200"),
        ({"sources": []}, "sources", "This field is required"),
    ],
)
def test_the_form_shows_clear_errors_on_the_field(
    shop: Shop, more: dict[str, Any], field: str, message: str
) -> None:
    response = client_for(shop.analyst).post(reverse("journey-new"), _form(shop, **more))
    assert response.status_code == 422
    page = response.content.decode()
    assert message in page
    # The message sits in the block of the field it is about.
    name = field.removeprefix("p-")
    block = re.search(
        r'<div class="field[^"]*field-invalid[^"]*">(?:(?!<div class="field).)*', page, re.S
    )
    assert block and (f'name="{field}"' in block.group(0) or f'name="p-{name}"' in block.group(0))
    assert AnalysisRun.objects.count() == 0


def test_parameters_of_each_kind_are_checked(shop: Shop) -> None:
    url = reverse("journey-new") + "?kind=funnel"
    response = client_for(shop.analyst).post(url, _form(shop, **{"p-steps": "home"}))
    assert response.status_code == 422
    assert "params.steps: expected a list of 2 to 20 activity names" in response.content.decode()
    clustering = reverse("journey-new") + "?kind=clustering"
    bad_k = _form(
        shop,
        **{
            "p-algorithm": "kmeans",
            "p-encoding": "bag",
            "p-k": "3",
            "p-k_min": "5",
            "p-k_max": "4",
            "p-ngram": "2",
        },
    )
    response = client_for(shop.analyst).post(clustering, bad_k)
    assert response.status_code == 422
    assert "params.k_min: 5 is above k_max 4" in response.content.decode()
    unknown = client_for(shop.analyst).get(reverse("journey-new") + "?kind=magic")
    assert unknown.status_code == 400 and "kind: expected one of" in unknown.content.decode()


# -- the process map ---------------------------------------------------------------------------
def test_open_the_map_now_draws_the_full_map_with_statistics(shop: Shop) -> None:
    client = client_for(shop.analyst)
    response = client.post(reverse("journey-new"), _form(shop, action="live"))
    assert response.status_code == 302
    location = urlparse(response["Location"])
    assert location.path == reverse("journey-map")
    spec = json.loads(parse_qs(location.query)["spec"][0])
    assert spec["case"] == "column:customer_id" and spec["source_ids"] == [shop.shop.pk]

    page = client.get(response["Location"]).content.decode()
    payload = _payload(page)
    assert (payload["activities"], payload["totalActivities"]) == (5, 5)
    # 5 paths (home→product, product→home, product→cart, cart→order, product→leave),
    # one from the start and two to the end
    assert payload["edges"] == payload["totalEdges"] == 8
    assert _labels(payload)[("home", "product")] == "20"
    assert 'data-testid="case-total">20<' in page
    assert "/static/vendor/%40viz-js/viz/dist/viz-global.js" in page
    assert "duration-data" in page and "events-data" in page
    assert "Case frequency" in page and "Median duration" in page


def test_sliders_and_measures_redraw_the_map(shop: Shop) -> None:
    client = client_for(shop.analyst)
    url = reverse("journey-map-draw")
    query = _q(shop.spec())
    full = _payload(client.get(f"{url}?{query}&activities=100&paths=100").content.decode())
    fewer = _payload(client.get(f"{url}?{query}&activities=60&paths=100").content.decode())
    # home, product (22 each), cart, leave, order (10 each; cart first by name)
    names = {e["name"] for e in fewer["elements"].values() if e["kind"] == "activity"}
    assert names == {"home", "product", "cart"}
    # leave and order are left out: odd visitors now end at product, even ones at cart.
    assert _labels(fewer)[("product", None)] == "10"
    thin = _payload(client.get(f"{url}?{query}&activities=100&paths=0").content.decode())
    assert thin["edges"] == 7 < full["edges"] and thin["added"] == thin["edges"]
    assert ("product", "home") not in _labels(thin)
    assert thin["activities"] == 5
    mean = _payload(client.get(f"{url}?{query}&measure=mean").content.decode())
    labels = _labels(mean)
    assert labels[("cart", "order")] == "1.0 h"
    assert labels[("home", "product")] == "2 min"
    assert labels[(None, "home")] == ""
    median = _payload(client.get(f"{url}?{query}&measure=median").content.decode())
    assert _labels(median)[("product", "leave")] == "1 min"
    frequency = _payload(client.get(f"{url}?{query}&measure=frequency").content.decode())
    assert _labels(frequency)[("home", "product")] == "22"
    bad = client.get(f"{url}?{query}&paths=150").content.decode()
    assert "paths: expected a percentage from 0 to 100" in bad
    bad = client.get(f"{url}?{query}&measure=speed").content.decode()
    assert "measure: expected one of" in bad


def test_the_case_panel_lists_cases_through_an_activity_or_path(shop: Shop) -> None:
    client = client_for(shop.analyst)
    base = f"{reverse('journey-cases')}?{_q(shop.spec())}"
    page = client.get(f"{base}&activity=order").content.decode()
    assert 'data-testid="case-count">10<' in page
    assert re.findall(r'data-case="(v\d+)"', page) == [f"v{i:02d}" for i in range(0, 20, 2)]
    assert "/customers/" not in page  # column cases are not people
    edge = client.get(f"{base}&edge=1&source=product&target=leave").content.decode()
    assert 'data-testid="case-count">10<' in edge and "product → leave" in edge
    start = client.get(f"{base}&edge=1&target=home").content.decode()
    assert 'data-testid="case-count">20<' in start and "start → home" in start
    assert "say which activity" in client.get(base).content.decode()


def test_person_cases_link_to_the_customer_profiles(shop: Shop) -> None:
    client = client_for(shop.analyst)
    spec = shop.spec(case="person")
    page = client.get(f"{reverse('journey-cases')}?{_q(spec)}&activity=leave").content.decode()
    people = re.findall(r'href="/customers/([^/"]+)/"', page)
    assert len(people) == 10 and len(set(people)) == 10
    assert all(person.startswith("p_") for person in people), people


def test_variants_panel_lists_sequences_with_share_and_duration(shop: Shop) -> None:
    page = (
        client_for(shop.analyst)
        .get(f"{reverse('journey-variants')}?{_q(shop.spec())}")
        .content.decode()
    )
    assert "3 variants in 20 cases" in page
    rows = re.findall(r'<tr class="variant-row">(.*?)</tr>', page, re.S)
    assert len(rows) == 3
    chips = [re.findall(r'<span class="chip">([^<]+)</span>', row) for row in rows]
    assert chips == [
        ["home", "product", "leave"],
        ["home", "product", "cart", "order"],
        ["home", "product", "home", "product", "cart", "order"],
    ]
    assert ["50.0%" in rows[0], "40.0%" in rows[1], "10.0%" in rows[2]] == [True] * 3
    assert "3 min 00 s" in rows[0] and "1 h 05 min" in rows[1]


def test_log_and_map_downloads(shop: Shop) -> None:
    client = client_for(shop.analyst)
    query = _q(shop.spec())
    csv = client.get(f"{reverse('journey-export', args=['log.csv'])}?{query}")
    assert csv.status_code == 200 and csv["Content-Disposition"].endswith('event-log.csv"')
    text = b"".join(csv.streaming_content).decode()  # type: ignore[attr-defined]
    assert text.splitlines()[0].startswith('"case_id","activity"')
    assert len(text.splitlines()) == 1 + 74
    xes = client.get(f"{reverse('journey-export', args=['log.xes'])}?{query}")
    assert b"<trace>" in b"".join(xes.streaming_content)  # type: ignore[attr-defined]
    svg = client.get(f"{reverse('journey-export', args=['map.svg'])}?{query}&paths=0")
    assert svg.status_code == 200 and b"<svg" in svg.content and b"home" in svg.content
    bad = client.get(f"{reverse('journey-export', args=['map.gif'])}?{query}")
    assert bad.status_code == 400
    model = client.get(f"{reverse('journey-export', args=['model.pnml'])}?{query}")
    assert model.status_code == 400 and b"a model comes from a discovery run" in model.content


# -- runs ---------------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_a_process_map_run_shows_progress_then_its_stored_map(shop: Shop) -> None:
    client = client_for(shop.analyst)
    response = client.post(reverse("journey-new"), _form(shop, name="Shop map", action="run"))
    assert response.status_code == 302, response.content.decode()[:3000]
    run = AnalysisRun.objects.get(name="Shop map")
    assert response["Location"] == reverse("journey-run", args=[run.pk])
    assert run.kind == "process_map" and run.params == {"measure": "cases", "bins": 10}
    done = wait_for(run.pk, lambda r: r.is_finished, timeout=60)
    assert done.status == RunStatus.DONE, done.error
    page = client.get(response["Location"]).content.decode()
    payload = _payload(page)
    assert payload["totalActivities"] == 5 and f"run={run.pk}" in payload["casesUrl"]
    drawn = client.get(f"{reverse('journey-map-draw')}?run={run.pk}&paths=0").content.decode()
    assert _payload(drawn)["edges"] == 7
    # A run still waiting shows its progress, polled from the analyses app.
    waiting = AnalysisRun.objects.create(
        owner=shop.analyst, name="Later", kind="process_map", spec=shop.spec(), params={}
    )
    page = client.get(reverse("journey-run", args=[waiting.pk])).content.decode()
    assert f'hx-get="{reverse("analysis-progress", args=[waiting.pk])}"' in page
    assert "_payload" not in page and 'id="map-data"' not in page
    # A grant taken back closes the stored map too.
    grant(source=shop.shop, user=shop.analyst, can_analyze=False)
    assert client.get(response["Location"]).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_models_side_by_side_with_quality_and_downloads(shop: Shop) -> None:
    client = client_for(shop.analyst)
    url = reverse("journey-new") + "?kind=models"
    form = _form(
        shop,
        **{
            "p-dependency_threshold": "0.5",
            "p-and_threshold": "0.65",
            "p-min_edge_frequency": "1",
            "p-inductive_variant": "IMd",
            "p-noise_threshold": "0",
            "p-time_limit_s": "30",
        },
    )
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    ids = [int(i) for i in parse_qs(urlparse(response["Location"]).query)["runs"][0].split(",")]
    runs = [wait_for(i, lambda r: r.is_finished, timeout=60) for i in ids]
    assert [r.algorithm for r in runs] == ["alpha", "heuristics", "inductive"]
    assert all(r.status == RunStatus.DONE for r in runs), [r.error for r in runs]
    page = client.get(response["Location"]).content.decode()
    assert page.count('class="card model"') == 3
    assert re.findall(r'data-testid="variant">([^<]+)<', page) == ["alpha", "heuristics", "IMd"]
    fitness = re.findall(r'data-testid="fitness">([^<]+)<', page)
    assert fitness[2] == "1.000"
    assert re.findall(r'data-testid="sound">([^<]+)<', page)[2] == "yes"
    assert page.count('id="model-dot-') == 3
    pnml = client.get(f"{reverse('journey-export', args=['model.pnml'])}?run={ids[2]}")
    assert pnml.status_code == 200 and b"<pnml" in pnml.content
    bpmn = client.get(f"{reverse('journey-export', args=['model.bpmn'])}?run={ids[2]}")
    assert b"definitions" in bpmn.content
    png = client.get(f"{reverse('journey-export', args=['model.png'])}?run={ids[0]}")
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    # One discovery run reopens on the same page.
    single = client.get(reverse("journey-run", args=[ids[1]]))
    assert single["Location"] == f"{reverse('journey-models')}?runs={ids[1]}"
    other = client_for(shop.viewer).get(response["Location"])
    assert other.status_code == 404  # not their runs
    # The map page's "Discover models" button starts the three on the map's log.
    started = client.post(reverse("journey-models-start"), {"spec": json.dumps(shop.spec())})
    assert started.status_code == 302
    more = parse_qs(urlparse(started["Location"]).query)["runs"][0].split(",")
    assert len(more) == 3 and not set(more) & {str(i) for i in ids}
    for run_id in more:
        assert wait_for(int(run_id), lambda r: r.is_finished, timeout=60).status == RunStatus.DONE
    refused = client_for(shop.viewer).post(
        reverse("journey-models-start"), {"spec": json.dumps(shop.spec())}
    )
    assert refused.status_code == 403


def test_a_cluster_restricts_the_log_to_its_cases(shop: Shop) -> None:
    clustered = analyses.start_run(
        actor=shop.analyst,
        kind="clustering",
        name="Two kinds",
        spec=shop.spec(),
        params={"k": 2, "k_min": 2, "k_max": 3},
        background=False,
    )
    assert clustered.status == RunStatus.DONE, clustered.error
    cluster = clustered.result["clusters"][0]
    client = client_for(shop.analyst)
    page = client.get(reverse("journey-new")).content.decode()
    assert f'value="{clustered.pk}:{cluster["cluster"]}"' in page
    response = client.post(
        reverse("journey-new"),
        _form(shop, action="live", cluster=f"{clustered.pk}:{cluster['cluster']}"),
    )
    assert response.status_code == 302
    spec = json.loads(parse_qs(urlparse(response["Location"]).query)["spec"][0])
    assert sorted(spec["cases"]) == sorted(cluster["case_ids"])
    payload = _payload(client.get(response["Location"]).content.decode())
    assert payload["cases"] == cluster["size"]
    # A cluster of other cases (people, not customer ids) does not filter this log.
    wrong = client.post(
        reverse("journey-new"),
        _form(shop, action="live", case="person", cluster=f"{clustered.pk}:{cluster['cluster']}"),
    )
    assert wrong.status_code == 422
    assert "grouped cases by &#x27;column:customer_id&#x27;" in wrong.content.decode()
    # Each cluster's own process map is a link away from the clustering result.
    result_page = client.get(reverse("analysis-detail", args=[clustered.pk])).content.decode()
    link = f"{reverse('journey-map')}?cluster={clustered.pk}:{cluster['cluster']}"
    assert link in result_page
    own_map = client.get(link)
    assert own_map.status_code == 200
    assert _payload(own_map.content.decode())["cases"] == cluster["size"]
    assert client.get(f"{reverse('journey-map')}?cluster={clustered.pk}:99").status_code == 400
    assert client_for(shop.viewer).get(link).status_code in {403, 404}


@pytest.mark.django_db(transaction=True)
def test_start_forms_of_clustering_decision_and_funnel_runs(shop: Shop) -> None:
    client = client_for(shop.analyst)
    for kind, params in (
        (
            "decision",
            {
                "p-activity": "product",
                "p-attributes": "device_category",
                "p-max_depth": "3",
                "p-min_samples_leaf": "1",
                "p-holdout": "0.3",
            },
        ),
        ("funnel", {"p-steps": "home\nproduct\norder", "p-breakdown": "device_category"}),
    ):
        page = client.get(reverse("journey-new") + f"?kind={kind}").content.decode()
        assert 'name="p-' in page
        before = set(AnalysisRun.objects.values_list("pk", flat=True))
        response = client.post(reverse("journey-new") + f"?kind={kind}", _form(shop, **params))
        assert response.status_code == 302, response.content.decode()[:3000]
        (new,) = set(AnalysisRun.objects.values_list("pk", flat=True)) - before
        run = AnalysisRun.objects.get(pk=new)
        assert run.kind == kind and response["Location"] == reverse("analysis-detail", args=[new])
        assert wait_for(new, lambda r: r.is_finished, timeout=60).status == RunStatus.DONE
    assert AnalysisRun.objects.get(kind="funnel").params["steps"] == ["home", "product", "order"]
    assert AnalysisRun.objects.get(kind="decision").params["attributes"] == ["device_category"]


def test_the_nav_links_to_journeys(shop: Shop) -> None:
    page = client_for(shop.analyst).get(reverse("home")).content.decode()
    assert f'href="{reverse("journey-new")}"' in page and ">Journeys<" in page


def test_source_kinds_other_than_events_are_refused(shop: Shop) -> None:
    query = _q({"source_ids": [shop.orders.pk]})
    page = client_for(shop.admin).get(f"{reverse('journey-map')}?{query}")
    assert page.status_code == 400 and "holds orders, not events" in page.content.decode()
    assert DataSource.objects.filter(pk=shop.orders.pk).exists()
