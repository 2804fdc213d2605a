"""Every setting, read from the environment through one typed helper that fails fast."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(ValueError):
    """A setting in the environment has a value c360 cannot use."""


def as_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"expected one of {sorted(_TRUE | _FALSE - {''})}")


def as_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def get_from_env(key: str, default: T, cast: Callable[[str], T]) -> T:
    """Read `key` from the environment, cast it, and name the variable when the value is bad."""
    raw = os.environ.get(key)
    if raw is None:
        return default
    try:
        return cast(raw)
    except ValueError as exc:
        raise ConfigError(f"{key}={raw!r} is not valid: {exc}") from exc


def _environment(value: str) -> str:
    if value not in {"production", "development", "test"}:
        raise ValueError("expected production, development or test")
    return value


def _database_url(value: str) -> str:
    if not value.startswith(("sqlite:", "postgres://", "postgresql://")):
        raise ValueError("expected a sqlite:/// or postgresql:// URL")
    return value


def _memory_size(value: str) -> str:
    if not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", value.strip(), re.I):
        raise ValueError("expected a size such as 512MB or 2GB")
    return value.strip()


def _warehouse_url(value: str) -> str:
    if not value.startswith(("duckdb://", "postgres://", "postgresql://")):
        raise ValueError("expected a duckdb:// or postgresql:// URL")
    return value


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    environment: str
    debug: bool
    database_url: str
    warehouse_url: str
    allowed_hosts: list[str]
    phone_default_region: str
    warehouse_memory: str

    @property
    def secret_key(self) -> str:
        return _secret_key(self.data_dir)


def _secret_key(data_dir: Path) -> str:
    """The key is generated into the data dir on first run, so no secret lives in code."""
    from_env = os.environ.get("C360_SECRET_KEY")
    if from_env:
        return from_env
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def load() -> Settings:
    data_dir = get_from_env("C360_DATA_DIR", Path(".c360"), Path).resolve()
    return Settings(
        data_dir=data_dir,
        environment=get_from_env("C360_ENV", "production", _environment),
        debug=get_from_env("C360_DEBUG", False, as_bool),
        database_url=get_from_env(
            "DATABASE_URL", f"sqlite:///{data_dir / 'metadata.sqlite3'}", _database_url
        ),
        warehouse_url=get_from_env(
            "C360_WAREHOUSE_URL", f"duckdb://{data_dir / 'warehouse.duckdb'}", _warehouse_url
        ),
        allowed_hosts=get_from_env("C360_ALLOWED_HOSTS", ["127.0.0.1", "localhost"], as_list),
        phone_default_region=get_from_env("C360_PHONE_REGION", "NL", str.upper),
        # DuckDB's memory limit for the warehouse; beyond it DuckDB spills to disk where it can.
        # Linking a million customers' identifiers ran out of memory at 512MB and fits in 2GB.
        warehouse_memory=get_from_env("C360_WAREHOUSE_MEMORY", "2GB", _memory_size),
    )


def refuse_unsafe_start(settings: Settings) -> None:
    """A production start with DEBUG on would leak tracebacks and personal data to anyone."""
    if settings.debug and settings.environment == "production":
        raise ConfigError(
            "C360_DEBUG is on while C360_ENV is production; "
            "set C360_ENV=development to debug, or turn C360_DEBUG off."
        )
