"""Column mappings: which file column (or constant) fills each canonical field, and how to cast."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from c360.ingest.canonical import BOOLEAN, CASTS, DATE, INTEGER, NUMBER, TIMESTAMP, kind_of

# strptime-style formats DuckDB understands, plus Unix epochs.
EPOCH_FORMATS = ("epoch", "epoch_ms")


@dataclass(frozen=True)
class FieldRule:
    column: str | None = None
    constant: str | None = None
    cast: str = "string"
    format: str | None = None  # e.g. "%d/%m/%Y %H:%M", "epoch", "epoch_ms"
    timezone: str | None = None  # for times written without an offset; default UTC

    def to_spec(self) -> dict[str, str]:
        out = {"column": self.column} if self.column is not None else {"constant": self.constant}
        out["cast"] = self.cast
        if self.format:
            out["format"] = self.format
        if self.timezone:
            out["timezone"] = self.timezone
        return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True)
class Mapping:
    kind: str
    fields: dict[str, FieldRule]
    properties: str | list[str] = "rest"  # "rest", "none", or the columns to keep
    identifiers: dict[str, str] = field(default_factory=dict)  # column -> id type (later use)

    @classmethod
    def from_spec(cls, *, kind: str, spec: dict[str, Any]) -> Mapping:
        """Validate a spec (from a user, a file or the database); errors name the field."""
        canonical = kind_of(kind)
        if not isinstance(spec, dict):
            raise ValueError("mapping: expected an object with 'fields'")
        raw_fields = spec.get("fields", {})
        if not isinstance(raw_fields, dict):
            raise ValueError("mapping.fields: expected an object of field -> rule")
        fields: dict[str, FieldRule] = {}
        for name, rule in raw_fields.items():
            where = f"mapping.fields.{name}"
            if name not in canonical.fields:
                raise ValueError(
                    f"{where}: not a field of {kind} sources "
                    f"(known: {', '.join(sorted(canonical.fields))})"
                )
            if isinstance(rule, str):
                rule = {"column": rule}
            if not isinstance(rule, dict):
                raise ValueError(f"{where}: expected {{'column': ...}} or {{'constant': ...}}")
            column, constant = rule.get("column"), rule.get("constant")
            if (column is None) == (constant is None):
                raise ValueError(f"{where}: give exactly one of 'column' or 'constant'")
            if column is not None and (not isinstance(column, str) or not column):
                raise ValueError(f"{where}.column: expected a column name")
            cast = rule.get("cast", canonical.fields[name])
            if cast not in CASTS:
                raise ValueError(f"{where}.cast: expected one of {list(CASTS)}, got {cast!r}")
            fmt = rule.get("format")
            if fmt is not None and (
                not isinstance(fmt, str)
                or (cast in (TIMESTAMP, DATE) and fmt not in EPOCH_FORMATS and "%" not in fmt)
            ):
                raise ValueError(
                    f"{where}.format: expected a strptime format such as '%d/%m/%Y %H:%M', "
                    "or epoch / epoch_ms"
                )
            tz = rule.get("timezone")
            if tz is not None:
                try:
                    ZoneInfo(str(tz))
                except (ZoneInfoNotFoundError, ValueError):
                    raise ValueError(f"{where}.timezone: unknown time zone {tz!r}") from None
            if constant is not None:
                constant = str(constant)
                _check_constant(where, constant, cast)
            fields[name] = FieldRule(
                column=column, constant=constant, cast=cast, format=fmt, timezone=tz
            )
        properties = spec.get("properties", "rest")
        if not (
            properties in ("rest", "none")
            or (isinstance(properties, list) and all(isinstance(c, str) for c in properties))
        ):
            raise ValueError("mapping.properties: expected 'rest', 'none' or a list of columns")
        identifiers = spec.get("identifiers", {})
        if not isinstance(identifiers, dict):
            raise ValueError("mapping.identifiers: expected an object of column -> id type")
        return cls(kind=kind, fields=fields, properties=properties, identifiers=identifiers)

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "fields": {name: rule.to_spec() for name, rule in self.fields.items()},
            "properties": self.properties,
        }
        if self.identifiers:
            spec["identifiers"] = self.identifiers
        return spec

    def missing_required(self) -> list[str]:
        """Required canonical fields this mapping leaves unfilled, in words for the user."""
        canonical = kind_of(self.kind)
        problems = [name for name in canonical.required if name not in self.fields]
        if canonical.one_of and not any(name in self.fields for name in canonical.one_of):
            problems.append("one of " + " / ".join(canonical.one_of))
        return problems


def _check_constant(where: str, value: str, cast: str) -> None:
    try:
        if cast == NUMBER:
            float(value)
        elif cast == INTEGER:
            int(value)
        elif cast == BOOLEAN and value.lower() not in {"true", "false", "1", "0", "yes", "no"}:
            raise ValueError
    except ValueError:
        raise ValueError(f"{where}.constant: {value!r} is not a valid {cast}") from None
