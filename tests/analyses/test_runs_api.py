"""Analysis runs through the API: who may do what, and a run's life from queued to stored."""

from __future__ import annotations

from typing import Any

import pytest

from c360.analyses import logic
from c360.analyses.models import AnalysisRun, RunStatus
from c360.warehouse import Warehouse
from factories import wait_for
from sources.api_helpers import Api, assert_error

from .conftest import Gate, World

FUNNEL = {"steps": ["home", "product", "order"], "breakdown": "device_category"}


def _start(api: Api, world: World, **payload: Any) -> Any:
    body = {"kind": "funnel", "spec": world.shop_spec(), "params": FUNNEL, "wait": True}
    body.update(payload)
    return api.post("/api/analyses", json=body)


# -- permissions -----------------------------------------------------------------------------
def test_anonymous_callers_are_refused(world: World) -> None:
    nobody = Api(None)
    assert_error(nobody.get("/api/analyses"), 401, "unauthenticated")
    assert_error(_start(nobody, world), 401, "unauthenticated")
    run = _start(Api(world.analyst), world).json()
    assert_error(nobody.get(f"/api/analyses/{run['id']}"), 401, "unauthenticated")
    assert_error(nobody.call("delete", f"/api/analyses/{run['id']}"), 401, "unauthenticated")


def test_starting_needs_analyze_on_every_source(world: World) -> None:
    error = assert_error(_start(Api(world.importer), world), 403, "forbidden")
    assert "'analyze'" in error["message"]
    # A source the caller may not even see is not revealed.
    private = world.shop_spec(source_ids=[world.shop.pk, world.private.pk])
    assert_error(_start(Api(world.analyst), world, spec=private), 404, "not_found")
    assert_error(_start(Api(world.import_token), world), 403, "forbidden")
    assert AnalysisRun.objects.count() == 0

    assert _start(Api(world.analyst), world).status_code == 201
    assert _start(Api(world.owner), world, spec={"source_ids": [world.private.pk]}).json()[
        "status"
    ] in {"done", "failed"}


def test_a_user_sees_their_own_runs_and_admins_see_all(world: World) -> None:
    mine = _start(Api(world.analyst), world, name="Ana's funnel").json()
    theirs = _start(Api(world.admin), world, name="Admin's funnel").json()

    listed = [r["name"] for r in Api(world.analyst).get("/api/analyses").json()]
    assert listed == ["Ana's funnel"]
    assert Api(world.bystander).get("/api/analyses").json() == []
    assert {r["name"] for r in Api(world.admin).get("/api/analyses").json()} == {
        "Ana's funnel",
        "Admin's funnel",
    }
    for other in (world.bystander, world.owner):
        api = Api(other)
        assert_error(api.get(f"/api/analyses/{mine['id']}"), 404, "not_found")
        patch = api.call("patch", f"/api/analyses/{mine['id']}", json={"name": "mine now"})
        assert_error(patch, 404, "not_found")
        assert_error(api.call("delete", f"/api/analyses/{mine['id']}"), 404, "not_found")
    assert_error(Api(world.analyst).get(f"/api/analyses/{theirs['id']}"), 404, "not_found")
    assert Api(world.admin).get(f"/api/analyses/{mine['id']}").status_code == 200


def test_rename_and_delete_by_the_owner_or_an_admin_only(world: World) -> None:
    analyst, admin = Api(world.analyst), Api(world.admin)
    first = _start(analyst, world).json()
    second = _start(analyst, world).json()

    renamed = analyst.call("patch", f"/api/analyses/{first['id']}", json={"name": "Q1 funnel"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Q1 funnel"
    assert analyst.call("delete", f"/api/analyses/{first['id']}").status_code == 204
    assert admin.call("delete", f"/api/analyses/{second['id']}").status_code == 204
    assert AnalysisRun.objects.count() == 0


def test_a_token_runs_analyses_but_does_not_administer_them(world: World) -> None:
    token = Api(world.analyze_token)
    run = _start(token, world).json()
    assert run["status"] == "done" and run["owner"] == "root"  # the token's creator
    assert [r["id"] for r in token.get("/api/analyses").json()] == [run["id"]]
    assert token.get(f"/api/analyses/{run['id']}").json()["result"]["converted"] == 20
    patch = token.call("patch", f"/api/analyses/{run['id']}", json={"name": "x"})
    assert_error(patch, 403, "forbidden")
    assert_error(token.call("delete", f"/api/analyses/{run['id']}"), 403, "forbidden")
    # The analyst's runs are not the token's to see.
    other = _start(Api(world.analyst), world).json()
    assert_error(token.get(f"/api/analyses/{other['id']}"), 404, "not_found")


def test_a_revoked_grant_closes_the_stored_result(world: World) -> None:
    from c360.sources.models import Grant

    run = _start(Api(world.analyst), world).json()
    Grant.objects.filter(user=world.analyst).update(can_analyze=False)

    assert_error(Api(world.analyst).get(f"/api/analyses/{run['id']}"), 403, "forbidden")
    assert [r["id"] for r in Api(world.analyst).get("/api/analyses").json()] == [run["id"]]


# -- what is refused before anything is recorded -------------------------------------------
@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"kind": "astrology"}, "kind: expected one of"),
        ({"params": {"steps": ["home"]}}, "params.steps"),
        ({"params": {"steps": ["home", "order"], "colour": 1}}, "unknown"),
        ({"spec": {"source_ids": []}}, "spec.source_ids"),
        ({"spec": {"source_ids": [1], "colour": "red"}}, "unknown field"),
    ],
)
def test_bad_input_is_refused_and_nothing_recorded(
    world: World, payload: dict[str, Any], message: str
) -> None:
    error = assert_error(_start(Api(world.analyst), world, **payload), 422, "invalid")
    assert message in error["message"]
    assert AnalysisRun.objects.count() == 0


# -- the stored result -------------------------------------------------------------------------
def test_a_finished_run_keeps_its_result_without_recomputing(
    world: World, warehouse: Warehouse
) -> None:
    api = Api(world.analyst)
    run = _start(api, world).json()
    assert run["status"] == "done", run["error"]
    result = run["result"]
    assert [s["cases"] for s in result["steps"]] == [40, 40, 20]
    groups = {g["value"]: g["conversion"] for g in result["breakdown"]["groups"]}
    assert groups == {"desktop": 1.0, "mobile": 0.0}
    assert run["duration_seconds"] is not None and run["progress"] == 1.0
    assert run["started_at"] <= run["finished_at"]

    with warehouse.writer() as writer:  # the data is gone; the run's result is not
        writer.delete_batches([1])
    again = api.get(f"/api/analyses/{run['id']}").json()
    assert again["result"] == result
    fresh = _start(api, world).json()
    assert fresh["result"]["entered"] == 0


def test_clustering_and_decision_runs_store_their_results(world: World) -> None:
    api = Api(world.analyst)
    clustering = _start(
        api, world, kind="clustering", params={"k": 2, "k_max": 3, "algorithm": "kmodes"}
    ).json()
    decision = _start(api, world, kind="decision", params={"activity": "product"}).json()

    assert clustering["status"] == "done", clustering["error"]
    assert clustering["algorithm"] == "kmodes"
    sizes = [c["size"] for c in clustering["result"]["clusters"]]
    assert sizes == [20, 20]
    assert decision["status"] == "done", decision["error"]
    assert decision["result"]["attribute_importances"][0]["attribute"] == "device_category"
    assert decision["result"]["accuracy"] == 1.0


def test_compare_two_runs_of_one_kind(world: World) -> None:
    api = Api(world.analyst)
    first = _start(api, world).json()
    second = _start(api, world, params={"steps": ["home", "product", "leave"]}).json()
    other_kind = _start(api, world, kind="decision", params={}).json()

    compared = api.get(f"/api/analyses/compare?first={first['id']}&second={second['id']}")

    assert compared.status_code == 200, compared.content
    body = compared.json()
    params = {row["name"]: row for row in body["params"]}
    assert params["steps"]["first"] == ["home", "product", "order"]
    assert params["steps"]["second"] == ["home", "product", "leave"]
    assert params["steps"]["same"] is False and params["breakdown"]["same"] is False
    headline = {row["name"]: row for row in body["headline"]}
    assert headline["cases converted"]["first"] == 20
    assert headline["cases entered"]["same"] is True
    mixed = api.get(f"/api/analyses/compare?first={first['id']}&second={other_kind['id']}")
    assert "different kinds" in assert_error(mixed, 422, "invalid")["message"]


# -- a run's life, on the server's threads -------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_progress_is_recorded_until_the_result_is_stored(world: World, gate: Gate) -> None:
    api = Api(world.analyst)
    started = _start(api, world, kind="gate", params={}, wait=False)
    assert started.status_code == 202, started.content
    run_id = started.json()["id"]

    halfway = wait_for(run_id, lambda r: r.stage == "half way")
    assert (halfway.status, halfway.progress) == (RunStatus.RUNNING, 0.5)
    seen = api.get(f"/api/analyses/{run_id}").json()
    assert (seen["status"], seen["progress"], seen["result"]) == ("running", 0.5, None)
    gate.release.set()
    done = wait_for(run_id, lambda r: r.is_finished)

    assert done.status == RunStatus.DONE
    assert done.result == {"answer": 42, "headline": {"answer": 42}}
    assert done.duration is not None and done.duration >= 0
    assert done.started_at is not None and done.finished_at is not None
    for _ in range(3):  # reopening never computes again
        assert api.get(f"/api/analyses/{run_id}").json()["result"]["answer"] == 42
    assert gate.calls == 1


@pytest.mark.django_db(transaction=True)
def test_a_cancelled_run_stops_at_its_next_progress_report(world: World, gate: Gate) -> None:
    api = Api(world.analyst)
    run_id = _start(api, world, kind="gate", params={}, wait=False).json()["id"]
    wait_for(run_id, lambda r: r.stage == "half way")

    cancelled = api.post(f"/api/analyses/{run_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert_error(Api(world.bystander).post(f"/api/analyses/{run_id}/cancel"), 404, "not_found")
    gate.release.set()
    run = wait_for(run_id, lambda r: r.duration is not None)

    assert run.status == RunStatus.CANCELLED
    assert run.result is None and run.finished_at is not None
    again = api.post(f"/api/analyses/{run_id}/cancel")
    assert "cancelled already" in assert_error(again, 422, "invalid")["message"]


@pytest.mark.parametrize(
    ("params", "error"),
    [({"fail": "no cases in this time range"}, "no cases in this time range"),
     ({"crash": "steps"}, "KeyError: 'steps'")],
)  # fmt: skip
def test_a_failure_is_recorded_with_its_reason(
    world: World, gate: Gate, params: dict[str, Any], error: str
) -> None:
    gate.release.set()
    run = _start(Api(world.analyst), world, kind="gate", params=params).json()
    assert run["status"] == "failed"
    assert run["error"] == error
    assert run["result"] is None and run["finished_at"] is not None


def test_runs_a_restart_interrupted_are_marked_failed(world: World) -> None:
    def make(status: str) -> AnalysisRun:
        return AnalysisRun.objects.create(
            owner=world.analyst, name=status, kind="funnel", spec=world.shop_spec(), status=status
        )

    running, queued, done = make("running"), make("queued"), make("done")

    assert logic.recover_interrupted_runs() == 2
    for run in (running, queued):
        run.refresh_from_db()
        assert run.status == RunStatus.FAILED
        assert "interrupted by a restart" in run.error
        assert run.finished_at is not None
    done.refresh_from_db()
    assert done.status == RunStatus.DONE
