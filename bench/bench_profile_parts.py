"""Where a profile's time goes, in process: each warehouse query, the whole read, the response.

    .venv/bin/python bench/bench_profile_parts.py [--customers 100000] [--people 200]

Reads the data dir bench_profile.py built (bench/out/profile-<N>; run that first, and not
while a server has the warehouse open). For random people it times logic.profile() as the API
calls it (parts on their threads), then each warehouse query of one profile run one after
another, then the API's part: turning the profile into the JSON the endpoint answers.
Prints medians and 99th percentiles in milliseconds.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _summary(name: str, times: list[float]) -> str:
    ordered = sorted(times)
    p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)]
    return (
        f"  {name:<34} p50 {statistics.median(ordered):7.2f} ms   p99 {p99:7.2f} ms"
        f"   ({len(ordered)} runs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    work = HERE / "out" / f"profile-{args.customers}"
    os.environ["C360_DATA_DIR"] = str(work / "data")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "c360.web.settings")
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.test import RequestFactory

    from c360.profiles import logic
    from c360.warehouse import Warehouse, get_warehouse

    warehouse = get_warehouse()
    person_ids = _sample_people(warehouse, args.people, args.seed)
    admin = User.objects.filter(is_superuser=True).first()
    if admin is None:
        raise SystemExit("no admin in this data dir: build it with bench/bench_profile.py first")

    # Every warehouse query of a profile passes through Warehouse.query or .query_rows: time
    # each by the name of the function that builds it.
    per_query: dict[str, list[float]] = defaultdict(list)
    timing = False

    def timed(run: Callable[..., Any]) -> Callable[..., Any]:
        def timed_run(self: Warehouse, build: Callable[..., Any], **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return run(self, build, **kwargs)
            finally:
                if timing:
                    per_query[build.__name__].append((time.perf_counter() - started) * 1000)

        return timed_run

    Warehouse.query = timed(Warehouse.query)  # type: ignore[method-assign]
    Warehouse.query_rows = timed(Warehouse.query_rows)  # type: ignore[method-assign]
    request = RequestFactory().get("/")
    request.auth = admin  # type: ignore[attr-defined]
    operation = _operation("get_profile")

    for person_id in person_ids[:20]:  # warm the compiled queries and each thread's connection
        logic.profile(admin, person_id=person_id)

    whole, responses = [], []
    for person_id in person_ids:
        started = time.perf_counter()
        result = logic.profile(admin, person_id=person_id)
        whole.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        _respond(operation, request, person_id, result)
        responses.append((time.perf_counter() - started) * 1000)

    # One after another on this thread: what each query costs on its own.
    from c360.profiles import logic as profile_logic

    readers = profile_logic._READERS
    profile_logic._READERS = _Inline()  # type: ignore[assignment]
    for person_id in person_ids[:20]:
        logic.profile(admin, person_id=person_id)
    timing = True
    sequential = []
    for person_id in person_ids:
        started = time.perf_counter()
        logic.profile(admin, person_id=person_id)
        sequential.append((time.perf_counter() - started) * 1000)
    timing = False
    profile_logic._READERS = readers

    print(f"{len(person_ids)} random people of {args.customers:,} customers")
    print(_summary("profile(), parts side by side", whole))
    print(_summary("profile(), parts one by one", sequential))
    print(_summary("profile to JSON response", responses))
    print("each query, one by one:")
    for name, times in sorted(per_query.items(), key=lambda kv: -statistics.median(kv[1])):
        print(_summary(name, times))


class _Inline:
    """Runs a submitted call at once, on the calling thread (an executor stand-in)."""

    def submit(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from concurrent.futures import Future

        future: Future[Any] = Future()
        future.set_result(call(*args, **kwargs))
        return future


def _respond(operation: Any, request: Any, person_id: str, profile: Any) -> Any:
    """What the endpoint does with a profile: the handler's return value, made a response."""
    from unittest import mock

    from django.http import HttpResponse

    from c360.profiles import api, logic

    with mock.patch.object(logic, "profile", return_value=profile):
        result = api.get_profile(request, person_id)
    return operation._result_to_response(request, result, HttpResponse())


def _operation(operation_id: str) -> Any:
    """The endpoint's operation, as the API serves it (bound to the API's renderer)."""
    from c360.profiles.api import router
    from c360.web.api import api

    for path_view in router.path_operations.values():
        for operation in path_view.operations:
            if operation.operation_id == operation_id:
                operation.api = api
                return operation
    raise LookupError(operation_id)


def _sample_people(warehouse: Any, people: int, seed: int) -> list[str]:
    table = warehouse.table("identity_map")
    rows = table.filter(table.linked).select("person_id").distinct().order_by("person_id")
    everyone = list(rows.to_pyarrow().column("person_id").to_pylist())
    random.seed(seed)
    return random.sample(everyone, min(people, len(everyone)))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
