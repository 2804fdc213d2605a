"""The `c360` command, run as a user runs it: in its own process, on its own data dir."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from c360.warehouse import Warehouse, connect

PASSWORD = "correct-horse-battery-staple"


def run_cli(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, "-m", "c360.cli", *args], data_dir, env)


def run_python(data_dir: Path, code: str) -> subprocess.CompletedProcess[str]:
    """Run `code` with Django set up on `data_dir` (to prepare or inspect what the CLI did)."""
    setup = "import django\ndjango.setup()\n"
    return _run([sys.executable, "-c", setup + code], data_dir, {})


def _environ(data_dir: Path, env: dict[str, str]) -> dict[str, str]:
    return {
        **os.environ,
        "C360_DATA_DIR": str(data_dir),
        "DJANGO_SETTINGS_MODULE": "c360.web.settings",
        "COLUMNS": "200",
        **env,
    }


def _run(argv: list[str], data_dir: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        env=_environ(data_dir, env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_line(stream: str) -> str:
    lines = stream.strip().splitlines()
    assert len(lines) == 1, stream
    assert "Traceback" not in stream
    return lines[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def held_warehouse(data_dir: Path) -> Iterator[Warehouse]:
    """The data dir's warehouse, held open by this process as a running server would."""
    held = connect(f"duckdb://{data_dir / 'warehouse.duckdb'}")
    held.migrate()
    try:
        yield held
    finally:
        held.close()


def can_log_in(data_dir: Path, username: str, password: str) -> str:
    result = run_python(
        data_dir,
        "from django.contrib.auth import authenticate\n"
        f"user = authenticate(username={username!r}, password={password!r})\n"
        "print('admin' if user and user.is_superuser else 'staff' if user else 'refused')\n",
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


# -- createadmin ------------------------------------------------------------------------
def test_createadmin_creates_an_admin_who_can_log_in(data_dir: Path) -> None:
    result = run_cli(data_dir, "createadmin", "alice", "--password", PASSWORD)

    assert result.returncode == 0, result.stderr
    assert "Created admin alice" in result.stdout
    assert PASSWORD not in result.stdout  # a given password is not echoed
    assert can_log_in(data_dir, "alice", PASSWORD) == "admin"
    assert can_log_in(data_dir, "alice", "wrong-password") == "refused"


def test_createadmin_generates_and_prints_a_password(data_dir: Path) -> None:
    result = run_cli(data_dir, "createadmin", "bob")

    assert result.returncode == 0, result.stderr
    found = re.search(r"Password: (\S+)", result.stdout)
    assert found, result.stdout
    assert can_log_in(data_dir, "bob", found.group(1)) == "admin"


def test_createadmin_refuses_a_taken_name_in_one_line(data_dir: Path) -> None:
    assert run_cli(data_dir, "createadmin", "alice", "--password", PASSWORD).returncode == 0

    result = run_cli(data_dir, "createadmin", "alice", "--password", PASSWORD)

    assert result.returncode == 2
    assert one_line(result.stderr) == "c360: the user name 'alice' is taken"


def test_createadmin_refuses_a_short_password(data_dir: Path) -> None:
    result = run_cli(data_dir, "createadmin", "carol", "--password", "short")

    assert result.returncode == 2
    assert one_line(result.stderr).startswith("c360: password: This password is too short.")
    assert can_log_in(data_dir, "carol", "short") == "refused"


# -- serve ------------------------------------------------------------------------------
def test_serve_refuses_production_with_debug(data_dir: Path) -> None:
    result = run_cli(
        data_dir, "serve", "--port", str(free_port()), C360_ENV="production", C360_DEBUG="1"
    )

    assert result.returncode == 2
    line = one_line(result.stderr)
    assert line.startswith("c360: C360_DEBUG is on while C360_ENV is production")
    assert "serving" not in result.stdout


def test_a_bad_setting_is_reported_in_one_line(data_dir: Path) -> None:
    result = run_cli(data_dir, "createadmin", "alice", C360_WAREHOUSE_URL="mysql://db/wh")

    assert result.returncode == 2
    assert one_line(result.stderr).startswith("c360: C360_WAREHOUSE_URL='mysql://db/wh'")


def test_a_second_server_is_told_the_warehouse_is_locked(
    data_dir: Path, held_warehouse: Warehouse
) -> None:
    result = run_cli(data_dir, "serve", "--port", str(free_port()))

    assert result.returncode == 1
    line = one_line(result.stderr)
    path = data_dir / "warehouse.duckdb"
    assert line == (
        f"c360: The warehouse {path} is in use by process {os.getpid()} (a running "
        "`c360 serve`?): stop that process, or send this work to the running server instead."
    )
    assert "serving" not in result.stdout


# -- demo -------------------------------------------------------------------------------
def _start_demo(data_dir: Path, port: int) -> tuple[subprocess.Popen[str], str]:
    """Start `c360 demo`; return the process and the password it printed, once it answers."""
    server = subprocess.Popen(
        [sys.executable, "-m", "c360.cli", "demo", "--port", str(port)],
        env=_environ(data_dir, {}),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert server.stdout is not None
    printed = ""
    deadline = time.monotonic() + 60
    while "serving on" not in printed and time.monotonic() < deadline:
        line = server.stdout.readline()
        if not line:
            break
        printed += line
    found = re.search(r"log in as admin with password (\S+)", printed)
    assert found, printed
    assert f"http://127.0.0.1:{port}/" in printed
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/login/", timeout=2)
            break
        except httpx.TransportError:
            time.sleep(0.2)
    return server, found.group(1)


def _stop(server: subprocess.Popen[str]) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    if server.stdout is not None:
        server.stdout.close()


def _log_in(port: int, username: str, password: str) -> httpx.Response:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        form = client.get("/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        assert token, form.text
        return client.post(
            "/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": token[1]},
            headers={"Referer": f"http://127.0.0.1:{port}/login/"},
        )


@pytest.mark.slow
def test_demo_serves_and_its_printed_login_works(data_dir: Path) -> None:
    port = free_port()
    server, password = _start_demo(data_dir, port)
    try:
        logged_in = _log_in(port, "admin", password)
        refused = _log_in(port, "admin", password + "x")
    finally:
        _stop(server)

    assert logged_in.status_code == 302  # on to the dashboard
    assert refused.status_code == 200  # the form again, with an error
    password_file = data_dir / "demo_admin_password"
    assert password_file.read_text().strip() == password
    assert password_file.stat().st_mode & 0o077 == 0

    server, again = _start_demo(data_dir, port)
    _stop(server)
    assert again == password  # generated once, then reused


# -- import -----------------------------------------------------------------------------
JOURNEY_CSV = (
    "customer_id,action_type,time,channel\n"
    "c1,page_view,2024-05-01T10:00:00Z,web\n"
    "c1,add_to_cart,2024-05-01T10:02:00Z,web\n"
    "c2,purchase,2024-05-02T09:30:00Z,store\n"
)


@pytest.fixture
def world(data_dir: Path, tmp_path: Path) -> Path:
    """A data dir with an admin and an events source called `web`; returns a journey CSV."""
    assert run_cli(data_dir, "createadmin", "alice", "--password", PASSWORD).returncode == 0
    made = run_python(
        data_dir,
        "from django.contrib.auth.models import User\n"
        "from c360.sources.logic import create_source\n"
        "create_source(actor=User.objects.get(username='alice'), name='web', kind='events')\n",
    )
    assert made.returncode == 0, made.stderr
    csv = tmp_path / "journey.csv"
    csv.write_text(JOURNEY_CSV)
    return csv


def batch_statuses(data_dir: Path) -> list[str]:
    result = run_python(
        data_dir,
        "from c360.sources.models import ImportBatch\n"
        "print(*ImportBatch.objects.order_by('pk').values_list('status', flat=True))\n",
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_import_lands_a_file_once(data_dir: Path, world: Path) -> None:
    first = run_cli(data_dir, "import", str(world), "--source", "web")
    again = run_cli(data_dir, "import", str(world), "--source", "web")

    assert first.returncode == 0, first.stdout + first.stderr
    assert "3 read, 3 accepted, 0 rejected, 0 already present, 3 inserted" in first.stdout
    assert again.returncode == 0, again.stdout + again.stderr
    assert "3 already present, 0 inserted" in again.stdout
    assert batch_statuses(data_dir) == ["done", "done"]
    assert world.read_text() == JOURNEY_CSV  # the user's file is left as it was


def test_import_of_a_bad_file_exits_1_and_says_why(
    data_dir: Path, world: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,action_type,time\nc1,page_view,not a date\n")

    result = run_cli(data_dir, "import", str(bad), "--source", "web")

    assert result.returncode == 1
    assert "Rejected" in result.stdout
    assert "row 1" in result.stdout  # the first row errors are listed
    assert batch_statuses(data_dir) == ["rejected"]


def test_import_into_an_unknown_source_is_one_line(data_dir: Path, world: Path) -> None:
    result = run_cli(data_dir, "import", str(world), "--source", "nope")

    assert result.returncode == 2
    assert one_line(result.stderr) == "c360: no data source called 'nope'"


def test_import_while_the_warehouse_is_locked_changes_nothing(
    data_dir: Path, world: Path, held_warehouse: Warehouse
) -> None:
    result = run_cli(data_dir, "import", str(world), "--source", "web")

    assert result.returncode == 1
    assert one_line(result.stderr).startswith(f"c360: The warehouse {data_dir}")
    assert batch_statuses(data_dir) == []  # no batch was left pending
    assert held_warehouse.count("events") == 0


@pytest.mark.slow
def test_import_while_the_server_runs_goes_through_the_server(data_dir: Path, world: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "c360.cli", "serve", "--port", str(port)],
        env=_environ(data_dir, {}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (data_dir / "server.json").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        result = run_cli(data_dir, "import", str(world), "--source", "web")
        statuses = batch_statuses(data_dir)
        tokens = run_python(
            data_dir,
            "from c360.accounts.models import ApiToken\n"
            "print(ApiToken.objects.filter(revoked_at__isnull=True).count())\n",
        )
    finally:
        _stop(server)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "owns the warehouse: sending the file to it" in result.stdout
    assert "3 inserted" in result.stdout
    assert statuses == ["done"]
    assert tokens.stdout.strip() == "0"  # the one-import token was revoked
    assert not (data_dir / "server.json").exists()  # the server said it stopped


# -- mappings ---------------------------------------------------------------------------
def test_a_saved_mapping_is_listed(data_dir: Path, world: Path, tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(
        '{"fields": {"customer_id": {"column": "customer_id"},'
        ' "event": {"column": "action_type"}, "timestamp": {"column": "time"}},'
        ' "properties": "rest"}'
    )

    saved = run_cli(data_dir, "mapping", "save", "journey", "--kind", "events", "--file", str(spec))
    listed = run_cli(data_dir, "mapping", "list")

    assert saved.returncode == 0, saved.stdout + saved.stderr
    assert "Saved mapping journey for events sources" in saved.stdout
    assert listed.returncode == 0, listed.stderr
    assert "journey" in listed.stdout
    assert "customer_id" in listed.stdout


def test_a_mapping_file_that_is_not_json_is_one_line(
    data_dir: Path, world: Path, tmp_path: Path
) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text("{not json")

    result = run_cli(data_dir, "mapping", "save", "x", "--kind", "events", "--file", str(spec))

    assert result.returncode == 2
    assert one_line(result.stderr).startswith(f"c360: {spec} is not valid JSON")
