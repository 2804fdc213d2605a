"""The analysis history pages: who sees them, and that they show what the run stored."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from c360.analyses import logic
from c360.analyses.models import AnalysisRun, RunStatus

from .conftest import World


def client_for(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def run_of(world: World, user: User, kind: str, params: dict[str, Any], **more: Any) -> Any:
    return logic.start_run(
        actor=user,
        kind=kind,
        name=more.pop("name", None),
        spec=world.shop_spec(),
        params=params,
        background=False,
    )


FUNNEL = {"steps": ["home", "product", "order"], "breakdown": "device_category"}


def test_anonymous_visitors_are_sent_to_log_in(world: World) -> None:
    run = run_of(world, world.analyst, "funnel", FUNNEL)
    for url in (
        reverse("analysis-list"),
        reverse("analysis-detail", args=[run.pk]),
        reverse("analysis-progress", args=[run.pk]),
        reverse("analysis-compare") + f"?first={run.pk}&second={run.pk}",
    ):
        response = client_for(None).get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    response = client_for(None).post(reverse("analysis-delete", args=[run.pk]))
    assert response.status_code == 302
    assert AnalysisRun.objects.filter(pk=run.pk).exists()


def test_the_history_lists_own_runs_and_filters_by_kind(world: World) -> None:
    run_of(world, world.analyst, "funnel", FUNNEL, name="Checkout funnel")
    run_of(world, world.analyst, "decision", {"activity": "product"}, name="Why order")
    run_of(world, world.admin, "funnel", FUNNEL, name="Admin funnel")

    page = client_for(world.analyst).get(reverse("analysis-list")).content.decode()
    assert "Checkout funnel" in page and "Why order" in page
    assert "Admin funnel" not in page
    assert 'href="/analyses/"' in page  # the navigation link
    only = client_for(world.analyst).get(reverse("analysis-list") + "?kind=decision")
    assert "Why order" in only.content.decode()
    assert "Checkout funnel" not in only.content.decode()
    everything = client_for(world.admin).get(reverse("analysis-list")).content.decode()
    assert "Checkout funnel" in everything and "Admin funnel" in everything
    assert client_for(world.bystander).get(reverse("analysis-list")).status_code == 200
    assert (
        "Checkout funnel"
        not in client_for(world.bystander).get(reverse("analysis-list")).content.decode()
    )


def test_a_funnel_run_page_shows_the_stored_result(world: World) -> None:
    run = run_of(world, world.analyst, "funnel", FUNNEL)
    page = client_for(world.analyst).get(reverse("analysis-detail", args=[run.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="funnel-steps"' in html and "vendor/echarts/dist/echarts.min.js" in html
    assert "Dropped before “order”" in html and "v01" in html  # mobile visitors drop out
    assert "By device_category" in html
    assert (
        client_for(world.bystander).get(reverse("analysis-detail", args=[run.pk])).status_code
        == 404
    )
    assert client_for(world.admin).get(reverse("analysis-detail", args=[run.pk])).status_code == 200


def test_clustering_and_decision_pages(world: World) -> None:
    clustering = run_of(world, world.analyst, "clustering", {"k": 2, "k_max": 3})
    decision = run_of(world, world.analyst, "decision", {"activity": "product"})
    assert clustering.status == decision.status == RunStatus.DONE

    html = client_for(world.analyst).get(reverse("analysis-detail", args=[clustering.pk]))
    text = html.content.decode()
    assert 'id="elbow"' in text and "Cluster 2" in text and 'data-chart="elbow"' in text
    html = client_for(world.analyst).get(reverse("analysis-detail", args=[decision.pk]))
    text = html.content.decode()
    assert 'data-chart="tree"' in text and "device_category" in text
    assert 'id="attribute-importances"' in text


def test_rename_cancel_and_delete_buttons(world: World) -> None:
    run = run_of(world, world.analyst, "funnel", FUNNEL)
    owner, bystander = client_for(world.analyst), client_for(world.bystander)

    assert (
        bystander.post(reverse("analysis-rename", args=[run.pk]), {"name": "x"}).status_code == 404
    )
    owner.post(reverse("analysis-rename", args=[run.pk]), {"name": "Spring funnel"})
    run.refresh_from_db()
    assert run.name == "Spring funnel"
    refused = owner.post(reverse("analysis-cancel", args=[run.pk]), follow=True)
    assert "done already" in refused.content.decode()
    assert bystander.post(reverse("analysis-delete", args=[run.pk])).status_code == 404
    deleted = owner.post(reverse("analysis-delete", args=[run.pk]))
    assert deleted.status_code == 302 and deleted["Location"] == reverse("analysis-list")
    assert not AnalysisRun.objects.filter(pk=run.pk).exists()

    theirs = run_of(world, world.analyst, "funnel", FUNNEL)
    assert (
        client_for(world.admin).post(reverse("analysis-delete", args=[theirs.pk])).status_code
        == 302
    )
    assert not AnalysisRun.objects.filter(pk=theirs.pk).exists()


def test_a_run_under_way_shows_its_progress_and_can_be_cancelled(world: World) -> None:
    run = AnalysisRun.objects.create(
        owner=world.analyst,
        name="Big clustering",
        kind="clustering",
        spec=world.shop_spec(),
        status=RunStatus.RUNNING,
        progress=0.4,
        stage="trying k = 3",
    )
    owner = client_for(world.analyst)
    page = owner.get(reverse("analysis-detail", args=[run.pk])).content.decode()
    assert "Trying k = 3 · 40%" in page and 'hx-trigger="every 1s"' in page
    partial = owner.get(reverse("analysis-progress", args=[run.pk]), HTTP_HX_REQUEST="true")
    assert "HX-Refresh" not in partial
    owner.post(reverse("analysis-cancel", args=[run.pk]))
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    partial = owner.get(reverse("analysis-progress", args=[run.pk]), HTTP_HX_REQUEST="true")
    assert partial["HX-Refresh"] == "true"


@pytest.mark.parametrize("who", ["analyst", "admin"])
def test_the_compare_page(world: World, who: str) -> None:
    first = run_of(world, world.analyst, "funnel", FUNNEL, name="With order")
    second = run_of(
        world, world.analyst, "funnel", {"steps": ["home", "product", "leave"]}, name="With leave"
    )
    client = client_for(getattr(world, who))
    detail = client.get(reverse("analysis-detail", args=[first.pk])).content.decode()
    assert f'<option value="{second.pk}">' in detail

    page = client.get(reverse("analysis-compare") + f"?first={first.pk}&second={second.pk}")
    html = page.content.decode()
    assert page.status_code == 200
    assert "With order" in html and "With leave" in html and "Cases converted" in html
    refused = client_for(world.bystander).get(
        reverse("analysis-compare") + f"?first={first.pk}&second={second.pk}"
    )
    assert refused.status_code == 404


def test_the_chart_scripts_are_served_from_the_app(world: World) -> None:
    """ECharts comes from node_modules through the app, never from a CDN."""
    for path in ("/static/vendor/echarts/dist/echarts.min.js", "/static/analyses/charts.js"):
        response = client_for(world.analyst).get(path)
        assert response.status_code == 200, path
        body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
        response.close()
        assert len(body) > 1000
