"""The `c360` command: serve, demo, import, createadmin and saved mappings.

Django and the warehouse are loaded inside each command, so `c360 --help` answers at once.
Expected failures (a bad setting, a bad argument, a locked warehouse) print one line and
exit with a code; only a bug prints a traceback.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from c360.config import Settings
    from c360.sources.models import ImportBatch

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8360
DEMO_ADMIN = "admin"
DEMO_CUSTOMERS = 2000
DEMO_DIR = "demo"  # the sample dataset's files, in the data dir
DEMO_PASSWORD_FILE = "demo_admin_password"  # noqa: S105 (a file name, not a secret)
SERVER_FILE = "server.json"  # where a running `c360 serve` says where it listens

# Exit codes: 1 the work failed or could not start (rejected import, locked warehouse),
# 2 the request itself is wrong (bad setting, bad argument, unknown source, not allowed).
EXIT_FAILED = 1
EXIT_USAGE = 2

app = typer.Typer(
    name="c360",
    help="c360: self-hosted Customer 360 and customer-journey analytics.",
    no_args_is_help=True,
    add_completion=False,
    # A bug prints Python's own traceback: compact, and without local variables (which
    # would print passwords and tokens).
    pretty_exceptions_enable=False,
)
mapping_app = typer.Typer(help="Saved column mappings.", no_args_is_help=True)
app.add_typer(mapping_app, name="mapping")
kafka_app = typer.Typer(help="Kafka connections of events sources.", no_args_is_help=True)
app.add_typer(kafka_app, name="kafka")

console = Console(highlight=False, soft_wrap=True)  # a line stays one line when piped

P = ParamSpec("P")
R = TypeVar("R")


# -- plumbing ---------------------------------------------------------------------------
def _fail(message: str, code: int) -> NoReturn:
    # Plain print, not rich: rich wraps long lines, and the message must stay one line.
    print(f"c360: {message}", file=sys.stderr)
    raise typer.Exit(code)


def _exit_code_for(exc: BaseException) -> int | None:
    """The exit code of an expected failure, or None for a bug (which keeps its traceback)."""
    # Looked up in sys.modules rather than imported: importing the warehouse or Django models
    # here would load them for every command, and an exception cannot be an instance of a
    # class whose module was never loaded.
    engine = sys.modules.get("c360.warehouse.engine")
    if engine is not None and isinstance(exc, engine.WarehouseError):
        return EXIT_FAILED
    logic = sys.modules.get("c360.sources.logic")
    if logic is not None and isinstance(exc, logic.NotFound | logic.NotAllowed):
        return EXIT_USAGE
    if isinstance(exc, ValueError | PermissionError):  # ConfigError is a ValueError
        return EXIT_USAGE
    return None


def _clear_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn expected failures into one line on stderr and an exit code."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except Exception as exc:
            code = _exit_code_for(exc)
            if code is None:
                raise
            message = str(exc).strip() or type(exc).__name__
            _fail(" ".join(message.split()), code)

    return run


def _settings() -> Settings:
    from c360 import config

    return config.load()


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "c360.web.settings")
    import django

    django.setup()


def _prepare_metadata() -> None:
    """Load Django and bring the metadata database up to date (a no-op when it is)."""
    _setup_django()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def _open_warehouse() -> None:
    """Open this process's warehouse now, so a locked one is reported before any work."""
    from django.conf import settings

    from c360.warehouse import open_warehouse

    open_warehouse(settings.C360_WAREHOUSE_URL)


def _acting_user(username: str | None) -> User:
    from django.contrib.auth.models import User

    if username:
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise ValueError(f"no active user called {username!r}")
        return user
    admin = User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
    if admin is None:
        raise ValueError("there is no admin yet: create one with `c360 createadmin NAME`")
    return admin


def _check_password(password: str, user: User | None = None) -> None:
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValueError("password: " + " ".join(exc.messages)) from None


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def _serve(host: str, port: int) -> None:
    """Run the one server process that owns the warehouse."""
    import uvicorn

    from c360.analyses.logic import recover_interrupted_runs
    from c360.identity.logic import identity_behind, refresh_identity
    from c360.ingest.stream import stop_stream_writer
    from c360.sources.logic import recover_pending_batches
    from c360.warehouse.runtime import close_warehouse

    _open_warehouse()
    recovered = recover_pending_batches()
    if recovered:
        console.print(f"Removed the rows of {recovered} import(s) interrupted by the last stop.")
    if identity_behind():
        console.print("Bringing people and profiles up to date with the last imports…")
        problem = refresh_identity(batch_ids=[])
        if problem:
            console.print(f"[red]{problem}[/red]")
    interrupted = recover_interrupted_runs()
    if interrupted:
        console.print(
            f"Marked {interrupted} analysis run(s) interrupted by the last stop as failed."
        )
    from c360.ingest.kafka import start_consumers, stop_consumers

    consuming = start_consumers()
    if consuming:
        console.print(f"Consuming the Kafka topics of {consuming} data source(s).")
    console.print(f"c360 is serving on [bold]{_url(host, port)}[/bold] (Ctrl+C stops it)")
    # Other commands that write (`c360 import`) find the running server here and send their
    # work to it, since the warehouse has one writing process.
    server_file = _settings().data_dir / SERVER_FILE
    server_file.write_text(json.dumps({"url": _url(host, port), "pid": os.getpid()}))
    # uvicorn shuts down on SIGTERM, then raises the signal again for the handler that was
    # there before it: make that one exit Python normally, so the `finally` below runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    _settle_for_serving()
    try:
        # One process, no reloader, no forking workers: DuckDB allows one writing process,
        # and this one is it. Requests run on threads, each with its own warehouse cursor.
        uvicorn.run(
            "c360.web.asgi:application",
            host=host,
            port=port,
            workers=1,
            reload=False,
            lifespan="off",  # Django does not speak the ASGI lifespan protocol
            log_level="info",
        )
    finally:
        server_file.unlink(missing_ok=True)
        stop_consumers()  # each commits what it stored and leaves its group
        # Commit what the tracking API has queued before the warehouse closes.
        stop_stream_writer()
        close_warehouse()


def _settle_for_serving() -> None:
    """Ready the process for a steady stream of small requests, before the first one.

    The objects loaded so far (Django, Ibis, pm4py ...) are frozen out of the garbage
    collector, whose full passes over them stalled every request for up to ~130 ms, and its
    young generation is collected every 20,000 allocations instead of every 700: the
    tracking API allocates a few dicts per event. Measured with 64 clients posting batches of
    100 events: GC took ~6% of the time before, well under 1% after. The user-agent parser
    compiles its hundreds of patterns on first use; that is done now, not in a request.
    """
    import gc

    from c360.ingest.segment import parse_user_agent

    parse_user_agent("Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 100)


# -- commands ---------------------------------------------------------------------------
HostOption = Annotated[str, typer.Option(help="Address to listen on.")]
PortOption = Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)]


@app.command()
@_clear_errors
def serve(host: HostOption = DEFAULT_HOST, port: PortOption = DEFAULT_PORT) -> None:
    """Start the web server and API (one process that owns the warehouse)."""
    from c360.config import refuse_unsafe_start

    refuse_unsafe_start(_settings())
    _prepare_metadata()
    _serve(host, port)


@app.command()
@_clear_errors
def demo(
    host: HostOption = DEFAULT_HOST,
    port: PortOption = DEFAULT_PORT,
    customers: Annotated[
        int,
        typer.Option(
            help="Customers in the sample dataset, generated and imported on the first run.",
            min=1,
        ),
    ] = DEMO_CUSTOMERS,
) -> None:
    """Prepare the data dir, an `admin` login and the sample dataset, and start the server."""
    from c360.config import refuse_unsafe_start

    settings = _settings()
    refuse_unsafe_start(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _prepare_metadata()
    password = _demo_password(settings.data_dir)
    _ensure_demo_admin(password)
    _load_demo_dataset(settings.data_dir / DEMO_DIR, customers)
    console.print(
        f"Open [bold]{_url(host, port)}[/bold] and log in as "
        f"[bold]{DEMO_ADMIN}[/bold] with password [bold]{password}[/bold]"
    )
    _serve(host, port)


def _load_demo_dataset(out_dir: Path, customers: int) -> None:
    """Generate the sample files and import each into its own source, unless already there."""
    from django.contrib.auth.models import User

    from c360.demo import generate, load, missing_sources
    from c360.sources.models import BatchStatus

    missing = missing_sources()
    if not missing:
        console.print("The sample dataset is loaded (its sources are on the Sources page).")
        return
    _open_warehouse()  # a locked warehouse is reported before any work
    with console.status(f"Generating the sample dataset ({customers:,} customers)..."):
        files = generate(out_dir=out_dir, customers=customers)
    console.print(
        f"Generated the sample dataset of {customers:,} customers into {out_dir} "
        f"({sum(files.rows.values()):,} rows in {files.seconds:.1f}s); importing it:"
    )
    admin = User.objects.get(username=DEMO_ADMIN)
    with _demo_progress(files.rows) as on_progress:
        batches = load(actor=admin, out_dir=out_dir, on_progress=on_progress)
    failed = [batch for batch in batches if batch.status != BatchStatus.DONE]
    for batch in failed:
        _print_outcome(batch)
    if failed:
        raise typer.Exit(EXIT_FAILED)


@contextmanager
def _demo_progress(rows: dict[str, int]) -> Iterator[Callable[[Any, ImportBatch], None]]:
    """One progress bar per demo file, filled as its import goes."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    from c360.demo import SOURCES

    columns = (
        TextColumn("{task.description:<20}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]:>12,} rows"),
        TextColumn("{task.fields[stage]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        tasks = {
            demo.name: progress.add_task(demo.name, total=1.0, rows=0, stage="waiting", start=False)
            for demo in SOURCES
        }

        def on_progress(demo: Any, batch: ImportBatch) -> None:
            task = tasks[demo.name]
            progress.start_task(task)
            progress.update(
                task,
                completed=1.0 if batch.is_finished else batch.progress,
                rows=batch.rows_read or rows.get(demo.file_name, 0) * batch.progress,
                stage=batch.get_status_display() if batch.is_finished else batch.stage,
            )

        yield on_progress


def _demo_password(data_dir: Path) -> str:
    """Generated once into the data dir (readable by its owner only), then reused."""
    path = data_dir / DEMO_PASSWORD_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(12))
    return path.read_text().strip()


def _ensure_demo_admin(password: str) -> None:
    from django.contrib.auth.models import User

    from c360.accounts.logic import create_user

    user = User.objects.filter(username=DEMO_ADMIN).first()
    if user is None:
        create_user(username=DEMO_ADMIN, password=password, role="admin")
        return
    # The printed login must work, even if the account was changed since the last demo.
    user.is_active = user.is_superuser = user.is_staff = True
    if not user.check_password(password):
        user.set_password(password)
    user.save()


@app.command()
@_clear_errors
def createadmin(
    username: Annotated[str, typer.Argument(help="Login name of the new admin.")],
    password: Annotated[
        str | None,
        typer.Option(help="Password to set; without it one is generated and printed."),
    ] = None,
    email: Annotated[str, typer.Option(help="E-mail address of the admin.")] = "",
) -> None:
    """Create an admin account."""
    _prepare_metadata()
    from c360.accounts.logic import create_user

    generated = password is None
    password = password or secrets.token_urlsafe(12)
    _check_password(password)
    create_user(username=username, password=password, email=email, role="admin")
    console.print(f"Created admin [bold]{username}[/bold].")
    if generated:
        console.print(f"Password: [bold]{password}[/bold] (shown once; store it now)")


class Mode(StrEnum):
    strict = "strict"
    lenient = "lenient"


@app.command("import")
@_clear_errors
def import_(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV, JSON Lines, JSON array or Parquet file, optionally gzipped.",
            exists=True,
            dir_okay=False,
            readable=True,
            resolve_path=True,
        ),
    ],
    source: Annotated[str, typer.Option(help="Name of the data source to import into.")],
    mapping: Annotated[
        str | None, typer.Option(help="Name of a saved column mapping (else suggested).")
    ] = None,
    mode: Annotated[
        Mode, typer.Option(help="strict: any bad row rejects the file; lenient: good rows land.")
    ] = Mode.strict,
    delimiter: Annotated[str | None, typer.Option(help="CSV delimiter (else detected).")] = None,
    user: Annotated[
        str | None, typer.Option(help="Act as this user (default: the first admin).")
    ] = None,
) -> None:
    """Import a file into a data source, exactly as the upload page does."""
    _prepare_metadata()
    from c360.sources.logic import create_batch, get_mapping
    from c360.sources.models import BatchStatus, DataSource

    actor = _acting_user(user)
    found = DataSource.objects.filter(name__iexact=source.strip()).first()
    if found is None:
        raise ValueError(f"no data source called {source!r}")
    mapping_spec: dict[str, Any] | None = None
    if mapping:
        mapping_spec = get_mapping(kind=found.kind, name=mapping).spec
    from c360.warehouse import WarehouseLocked

    try:
        _open_warehouse()
    except WarehouseLocked:
        server = _running_server()
        if server is None:
            raise
        batch = _import_through_server(
            server,
            actor=actor,
            source=found,
            file=file,
            mapping=mapping,
            mode=mode.value,
            delimiter=delimiter,
        )
    else:
        batch = create_batch(
            actor=actor,
            source=found,
            file_name=file.name,
            file_size=file.stat().st_size,
            mode=mode.value,
            mapping_name=mapping or "",
        )
        batch = _import_with_progress(batch, file, mapping_spec, delimiter)
    _print_outcome(batch)
    if batch.status != BatchStatus.DONE:
        raise typer.Exit(EXIT_FAILED)


@contextmanager
def _progress_bar() -> Iterator[tuple[Any, Any]]:
    """A rich progress bar for an import: stage, share done, rows read, time."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("{task.description:<28}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]:>12,} rows"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        yield progress, progress.add_task("starting", total=1.0, rows=0)


def _import_with_progress(
    batch: ImportBatch, file: Path, mapping_spec: dict[str, Any] | None, delimiter: str | None
) -> ImportBatch:
    from c360.sources.logic import run_import

    with _progress_bar() as (progress, task):

        def on_progress(current: ImportBatch) -> None:
            progress.update(
                task,
                completed=current.progress,
                description=current.stage or current.status,
                rows=current.rows_read,
            )

        return run_import(
            batch=batch,
            path=file,
            mapping_spec=mapping_spec,
            delimiter=delimiter,
            on_progress=on_progress,
        )


def _running_server() -> str | None:
    """The URL of the `c360 serve` of this data dir, when one is running."""
    server_file = _settings().data_dir / SERVER_FILE
    try:
        server = json.loads(server_file.read_text())
        os.kill(int(server["pid"]), 0)  # signal 0: is the process alive?
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(server["url"])


def _import_through_server(
    server: str,
    *,
    actor: User,
    source: Any,
    file: Path,
    mapping: str | None,
    mode: str,
    delimiter: str | None,
) -> ImportBatch:
    """Send the file to the running server, which owns the warehouse, and follow the batch.

    The acting user's right is checked here; the upload then uses a token made for this one
    import (scoped to the source and to `import`), revoked as soon as the server answered.
    """
    import time

    import httpx

    from c360.accounts.logic import create_token, revoke_token
    from c360.sources.logic import require
    from c360.sources.models import ImportBatch

    require(actor, "import", source)
    issuer = actor if actor.is_superuser else _acting_user(None)
    issued = create_token(
        name=f"c360 import by {actor.get_username()}",
        created_by=issuer,
        source_ids=[source.pk],
        permissions=["import"],
    )
    console.print(f"The server at {server} owns the warehouse: sending the file to it.")
    try:
        with file.open("rb") as stream:
            response = httpx.post(
                f"{server.rstrip('/')}/api/sources/{source.pk}/imports",
                headers={"Authorization": f"Bearer {issued.secret}"},
                files={"file": (file.name, stream)},
                data={
                    "mode": mode,
                    "wait": "false",
                    **({"mapping": mapping} if mapping else {}),
                    **({"delimiter": delimiter} if delimiter else {}),
                },
                timeout=httpx.Timeout(30.0, write=None),
            )
    except httpx.HTTPError as exc:
        raise ValueError(f"the server at {server} did not take the file: {exc}") from None
    finally:
        revoke_token(token=issued.token)
    if response.status_code not in (201, 202):
        message = response.json().get("error", {}).get("message", response.text[:200])
        raise ValueError(f"the server refused the import: {message}")
    batch_id = int(response.json()["id"])
    with _progress_bar() as (progress, task):
        while True:
            batch = ImportBatch.objects.get(pk=batch_id)
            progress.update(
                task,
                completed=batch.progress,
                description=batch.stage or batch.status,
                rows=batch.rows_read,
            )
            if batch.is_finished:
                return batch
            time.sleep(0.3)


def _print_outcome(batch: ImportBatch) -> None:
    from c360.sources.models import BatchStatus

    style = "green" if batch.status == BatchStatus.DONE else "red"
    console.print(
        f"Batch {batch.pk}: [{style}]{batch.get_status_display()}[/{style}] - "
        f"{batch.rows_read:,} read, {batch.rows_accepted:,} accepted, "
        f"{batch.rows_rejected:,} rejected, {batch.rows_duplicate:,} already present, "
        f"{batch.rows_inserted:,} inserted"
        + (f" in {batch.duration_seconds:.1f}s" if batch.duration_seconds is not None else "")
    )
    if batch.error:
        console.print(f"[red]{batch.error}[/red]")
    shown = batch.errors_sample[:10]
    for error in shown:
        console.print(f"  row {error['row']}, column {error['column']}: {error['reason']}")
    if batch.rows_rejected > len(shown) and shown:
        console.print(f"  ... and {batch.rows_rejected - len(shown):,} more")
    if batch.rejected_path:
        console.print(f"Rejected rows with their reasons: {batch.rejected_path}")


# -- mappings ---------------------------------------------------------------------------
@mapping_app.command("save")
@_clear_errors
def mapping_save(
    name: Annotated[str, typer.Argument(help="Name to save the mapping under.")],
    kind: Annotated[str, typer.Option(help="Source kind: events, customers, orders, ...")],
    file: Annotated[
        Path,
        typer.Option(help="JSON mapping spec.", exists=True, dir_okay=False, readable=True),
    ],
    user: Annotated[
        str | None, typer.Option(help="Save as this user (default: the first admin).")
    ] = None,
) -> None:
    """Save (or replace) a named column mapping for a source kind."""
    _prepare_metadata()
    from c360.sources.logic import save_mapping
    from c360.sources.models import SourceKind

    if kind not in SourceKind.values:
        raise ValueError(f"kind: expected one of {', '.join(SourceKind.values)}, got {kind!r}")
    try:
        spec = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{file} is not valid JSON: {exc}") from None
    if not isinstance(spec, dict):
        raise ValueError(f"{file} must hold a JSON object with a 'fields' key")
    saved = save_mapping(actor=_acting_user(user), name=name, kind=kind, spec=spec)
    console.print(f"Saved mapping [bold]{saved.name}[/bold] for {saved.kind} sources.")


@mapping_app.command("list")
@_clear_errors
def mapping_list(
    kind: Annotated[str | None, typer.Option(help="Only mappings of this source kind.")] = None,
) -> None:
    """List the saved column mappings."""
    _prepare_metadata()
    from rich.table import Table

    from c360.sources.models import ColumnMapping

    mappings = ColumnMapping.objects.all()
    if kind:
        mappings = mappings.filter(kind=kind)
    if not mappings.exists():
        console.print("No saved mappings yet: save one with `c360 mapping save NAME ...`.")
        return
    table = Table("name", "kind", "fields", "properties", "updated (UTC)")
    for saved in mappings:
        fields = saved.spec.get("fields", {}) if isinstance(saved.spec, dict) else {}
        properties = saved.spec.get("properties", "") if isinstance(saved.spec, dict) else ""
        table.add_row(
            saved.name,
            saved.kind,
            ", ".join(sorted(fields)),
            properties if isinstance(properties, str) else ", ".join(properties),
            saved.updated_at.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)


# -- Kafka ------------------------------------------------------------------------------
def _source_named(name: str) -> Any:
    from c360.sources.models import DataSource

    found = DataSource.objects.filter(name__iexact=name.strip()).first()
    if found is None:
        raise ValueError(f"no data source called {name!r}")
    return found


@kafka_app.command("set")
@_clear_errors
def kafka_set(
    source: Annotated[str, typer.Option(help="Name of the events source.")],
    bootstrap_servers: Annotated[str, typer.Option(help="host:port[,host:port...]")],
    topics: Annotated[str, typer.Option(help="Topic names, separated by commas.")],
    group: Annotated[
        str | None, typer.Option(help="Consumer group (default c360-source-ID).")
    ] = None,
    message_format: Annotated[
        str, typer.Option("--format", help="segment (Segment JSON) or journey (journey JSON).")
    ] = "segment",
    security_protocol: Annotated[
        str, typer.Option(help="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.")
    ] = "PLAINTEXT",
    sasl_mechanism: Annotated[str, typer.Option(help="PLAIN, SCRAM-SHA-256, SCRAM-SHA-512.")] = "",
    sasl_username: Annotated[str, typer.Option(help="SASL user name.")] = "",
    sasl_password: Annotated[
        str, typer.Option(envvar="C360_KAFKA_SASL_PASSWORD", help="SASL password.")
    ] = "",
    ssl_ca_location: Annotated[str, typer.Option(help="CA certificate file for TLS.")] = "",
    session_timeout_ms: Annotated[int, typer.Option(help="Consumer session timeout.")] = 10_000,
    paused: Annotated[bool, typer.Option(help="Save without consuming.")] = False,
    user: Annotated[
        str | None, typer.Option(help="Act as this admin (default: the first).")
    ] = None,
) -> None:
    """Connect an events source to Kafka topics, or change its connection."""
    _prepare_metadata()
    from c360.sources.kafka import save_kafka_connection, validate_settings

    found = _source_named(source)
    settings = validate_settings(
        bootstrap_servers=bootstrap_servers,
        topics=topics,
        group_id=group or f"c360-source-{found.pk}",
        message_format=message_format,
        security_protocol=security_protocol,
        sasl_mechanism=sasl_mechanism,
        sasl_username=sasl_username,
        sasl_password=sasl_password,
        ssl_ca_location=ssl_ca_location,
        session_timeout_ms=session_timeout_ms,
        enabled=not paused,
    )
    saved = save_kafka_connection(actor=_acting_user(user), source=found, settings=settings)
    console.print(
        f"Saved: {found.name} consumes {', '.join(saved.topics)} from "
        f"{saved.bootstrap_servers} as group {saved.group_id} ({saved.message_format})"
        + (", paused." if paused else ".")
    )


@kafka_app.command("show")
@_clear_errors
def kafka_show(source: Annotated[str, typer.Option(help="Name of the events source.")]) -> None:
    """The connection of a source, its consumer's state, lag and latest dead letters."""
    _prepare_metadata()
    from rich.table import Table

    from c360.sources.models import KafkaConnection, KafkaDeadLetter

    found = _source_named(source)
    connection = KafkaConnection.objects.filter(source=found).first()
    if connection is None:
        raise ValueError(f"{found.name!r} is not connected to Kafka: `c360 kafka set` connects it")
    console.print(
        f"{found.name}: {', '.join(connection.topics)} from {connection.bootstrap_servers}, "
        f"group {connection.group_id}, {connection.message_format}; "
        f"consumer {connection.state}"
        + (f" ({connection.consumer_host})" if connection.consumer_host else "")
        + f", {connection.messages_stored:,} stored, {connection.messages_dead:,} dead letters"
    )
    if connection.last_error:
        console.print(f"Last error: {connection.last_error}")
    table = Table("topic", "partition", "committed", "end", "lag")
    for p in connection.partitions:
        table.add_row(
            *(str(p.get(k, "")) for k in ("topic", "partition", "committed", "end", "lag"))
        )
    if connection.partitions:
        console.print(table)
    for letter in KafkaDeadLetter.objects.filter(source=found)[:10]:
        console.print(
            f"dead letter {letter.topic}[{letter.partition}]@{letter.offset}: {letter.reason}"
        )


@app.command()
@_clear_errors
def consume(
    source: Annotated[str, typer.Option(help="Name of the events source whose topics to consume.")],
    seconds: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: until stopped).")
    ] = None,
) -> None:
    """Run the Kafka consumer of one source in this process (PostgreSQL warehouse only)."""
    import threading

    _prepare_metadata()
    from django.conf import settings

    from c360.ingest.kafka import start_consumer, stop_consumers
    from c360.ingest.stream import stop_stream_writer
    from c360.sources.models import KafkaConnection
    from c360.warehouse.runtime import close_warehouse

    if not settings.C360_WAREHOUSE_URL.startswith(("postgresql://", "postgres://")):
        raise ValueError(
            "`c360 consume` needs a PostgreSQL warehouse (C360_WAREHOUSE_URL=postgresql://...); "
            "with the embedded warehouse, `c360 serve` consumes every connected source itself"
        )
    found = _source_named(source)
    connection = KafkaConnection.objects.filter(source=found).first()
    if connection is None:
        raise ValueError(f"{found.name!r} is not connected to Kafka: `c360 kafka set` connects it")
    if not connection.enabled:
        raise ValueError(f"the Kafka connection of {found.name!r} is paused")
    _open_warehouse()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    start_consumer(source_id=found.pk)
    console.print(
        f"Consuming {', '.join(connection.topics)} into {found.name} as group "
        f"{connection.group_id} (Ctrl+C stops)"
    )
    try:
        stop.wait(seconds)
    finally:
        stop_consumers()  # commits what it stored, leaves the group
        stop_stream_writer()
        close_warehouse()
    console.print("Stopped.")


if __name__ == "__main__":
    app()
