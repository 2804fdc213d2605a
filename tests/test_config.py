"""Settings come from the environment, fail fast on bad values, and refuse unsafe starts."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from c360 import config
from c360.config import ConfigError, refuse_unsafe_start

_ALL = (
    "C360_DATA_DIR",
    "C360_ENV",
    "C360_DEBUG",
    "DATABASE_URL",
    "C360_WAREHOUSE_URL",
    "C360_ALLOWED_HOSTS",
    "C360_SECRET_KEY",
)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A clean environment whose data dir is a fresh, not yet existing, directory."""
    for key in _ALL:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("C360_DATA_DIR", str(tmp_path / "data"))
    return monkeypatch


def test_defaults_are_embedded_and_safe(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = config.load()

    data_dir = (tmp_path / "data").resolve()
    assert settings.data_dir == data_dir
    assert settings.debug is False
    assert settings.environment == "production"
    assert settings.database_url == f"sqlite:///{data_dir / 'metadata.sqlite3'}"
    assert settings.warehouse_url == f"duckdb://{data_dir / 'warehouse.duckdb'}"
    assert settings.allowed_hosts == ["127.0.0.1", "localhost"]


def test_values_are_cast(env: pytest.MonkeyPatch) -> None:
    env.setenv("C360_DEBUG", "yes")
    env.setenv("C360_ENV", "development")
    env.setenv("C360_ALLOWED_HOSTS", " c360.example.com, 10.0.0.5 ,")
    env.setenv("DATABASE_URL", "postgresql://c360@db/c360")
    env.setenv("C360_WAREHOUSE_URL", "postgresql://c360@db/warehouse")

    settings = config.load()

    assert settings.debug is True
    assert settings.environment == "development"
    assert settings.allowed_hosts == ["c360.example.com", "10.0.0.5"]
    assert settings.database_url == "postgresql://c360@db/c360"
    assert settings.warehouse_url == "postgresql://c360@db/warehouse"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("C360_DEBUG", "maybe"),
        ("C360_ENV", "staging"),
        ("DATABASE_URL", "mysql://c360@db/c360"),
        ("C360_WAREHOUSE_URL", "sqlite:///warehouse.db"),
    ],
)
def test_a_bad_value_fails_naming_the_variable(
    env: pytest.MonkeyPatch, key: str, value: str
) -> None:
    env.setenv(key, value)

    with pytest.raises(ConfigError) as raised:
        config.load()

    assert str(raised.value).startswith(f"{key}={value!r} is not valid: ")


def test_a_bad_value_stops_the_settings_from_loading(tmp_path: Path) -> None:
    environ = {**os.environ, "C360_DATA_DIR": str(tmp_path), "C360_DEBUG": "maybe"}

    result = subprocess.run(
        [sys.executable, "-c", "import c360.web.settings"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode != 0
    assert "ConfigError: C360_DEBUG='maybe' is not valid" in result.stderr


def test_production_with_debug_is_refused(env: pytest.MonkeyPatch) -> None:
    env.setenv("C360_DEBUG", "1")

    with pytest.raises(ConfigError, match="C360_DEBUG is on while C360_ENV is production"):
        refuse_unsafe_start(config.load())


@pytest.mark.parametrize(
    ("environment", "debug"), [("production", "0"), ("development", "1"), ("test", "1")]
)
def test_other_combinations_start(env: pytest.MonkeyPatch, environment: str, debug: str) -> None:
    env.setenv("C360_ENV", environment)
    env.setenv("C360_DEBUG", debug)

    refuse_unsafe_start(config.load())  # no exception


def test_the_secret_key_is_generated_once_into_the_data_dir(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = config.load()
    key_file = tmp_path / "data" / "secret_key"
    assert not key_file.exists()

    first = settings.secret_key

    assert key_file.read_text().strip() == first
    assert len(first) >= 50
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert config.load().secret_key == first  # reused, not regenerated


def test_each_data_dir_gets_its_own_secret_key(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    first = config.load().secret_key
    env.setenv("C360_DATA_DIR", str(tmp_path / "other"))

    assert config.load().secret_key != first


def test_a_secret_key_from_the_environment_wins(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("C360_SECRET_KEY", "from-the-vault")

    assert config.load().secret_key == "from-the-vault"
    assert not (tmp_path / "data" / "secret_key").exists()


def test_a_warehouse_memory_limit_must_be_a_size(monkeypatch: pytest.MonkeyPatch) -> None:
    from c360 import config

    monkeypatch.setenv("C360_WAREHOUSE_MEMORY", "2GB")
    assert config.load().warehouse_memory == "2GB"
    monkeypatch.setenv("C360_WAREHOUSE_MEMORY", "lots")
    with pytest.raises(config.ConfigError, match="C360_WAREHOUSE_MEMORY='lots' is not valid"):
        config.load()
