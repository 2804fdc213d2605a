"""The SQL that turns a raw file into canonical rows plus per-row errors, run by DuckDB.

Everything here is vectorised in the staging engine: one expression per canonical field, one
list of errors per row, one stable key per row. No Python loop touches the rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from c360.ingest.canonical import (
    BOOLEAN,
    DATE,
    EVENT_IDENTIFIERS,
    INTEGER,
    NUMBER,
    STRING,
    TIMESTAMP,
    Kind,
)
from c360.ingest.files import FileProblem, quote_ident, quote_literal
from c360.ingest.mapping import FieldRule, Mapping

_TRUE = "('true','1','yes','y','t')"
_FALSE = "('false','0','no','n','f')"
_OFFSET = r"'([+-]\d\d(:?\d\d)?|Z|UTC)$'"
_TEXT_TYPES = ("VARCHAR", "JSON")
# Fields whose values are trimmed: identifiers, which identity stitching compares, and the
# other keys rows are matched on.
IDENTIFIER_FIELDS = frozenset({*EVENT_IDENTIFIERS, "message_id", "order_id", "product_id", "event"})


@dataclass(frozen=True)
class StagingPlan:
    select_sql: (
        str  # columns: raw file columns (in file order), f_<field>..., f__json, f__key, _errors
    )
    fields: list[str]  # canonical fields produced, in order
    json_column: str
    key_column: str  # event_id or record_id


def _label(rule: FieldRule, field: str) -> str:
    return rule.column if rule.column is not None else field


def _is_text(duck_type: str) -> bool:
    return duck_type.upper() in _TEXT_TYPES


def _as_text(column: str, duck_type: str) -> str:
    col = quote_ident(column)
    upper = duck_type.upper()
    if _is_text(upper):
        return f"NULLIF(trim({col}), '')"
    return _typed_as_text(col, upper)


def _as_plain_text(column: str, duck_type: str) -> str:
    """Text kept as written, empty as NULL: cheaper than trimming every descriptive column."""
    col = quote_ident(column)
    upper = duck_type.upper()
    if _is_text(upper):
        return f"NULLIF({col}, '')"
    return _typed_as_text(col, upper)


def _typed_as_text(col: str, upper: str) -> str:
    if upper.startswith(("STRUCT", "MAP")) or upper.endswith("[]"):
        return f"CAST(to_json({col}) AS VARCHAR)"
    return f"CAST({col} AS VARCHAR)"


def _reason(text: str, what: str) -> str:
    return f"'\"' || left({text}, 60) || '\" is not {what}'"


def _cast(rule: FieldRule, duck_type: str, *, identifier: bool) -> tuple[str, str | None]:
    """(value expression, what a value that fails the cast is not, or None) for one mapped
    column: "a number" makes the row error '"abc" is not a number'."""
    col = quote_ident(rule.column or "")
    text = _as_text(rule.column or "", duck_type)
    upper = duck_type.upper()
    tz = quote_literal(rule.timezone or "UTC")
    if rule.cast == STRING:
        return (text if identifier else _as_plain_text(rule.column or "", duck_type)), None
    if rule.cast == NUMBER:
        value = f"TRY_CAST({text} AS DOUBLE)" if _is_text(upper) else f"TRY_CAST({col} AS DOUBLE)"
        return value, "a number"
    if rule.cast == INTEGER:
        value = f"TRY_CAST({text} AS BIGINT)" if _is_text(upper) else f"TRY_CAST({col} AS BIGINT)"
        return value, "a whole number"
    if rule.cast == BOOLEAN:
        if upper == "BOOLEAN":
            return col, None
        value = (
            f"CASE WHEN lower({text}) IN {_TRUE} THEN true "
            f"WHEN lower({text}) IN {_FALSE} THEN false END"
        )
        return value, "true or false"
    if rule.cast == DATE:
        if upper == "DATE":
            return col, None
        if upper.startswith("TIMESTAMP"):
            return f"CAST({col} AS DATE)", None
        if rule.format:
            value = f"CAST(try_strptime({text}, {quote_literal(rule.format)}) AS DATE)"
        else:
            value = f"TRY_CAST({text} AS DATE)"
        return value, "a date" + (f" in the format {rule.format}" if rule.format else "")
    if rule.cast == TIMESTAMP:
        if upper in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
            return col, None
        if upper.startswith("TIMESTAMP") or upper == "DATE":
            return f"timezone({tz}, CAST({col} AS TIMESTAMP))", None
        if rule.format == "epoch":
            value = f"to_timestamp(TRY_CAST({text} AS DOUBLE))"
        elif rule.format == "epoch_ms":
            value = f"to_timestamp(TRY_CAST({text} AS DOUBLE) / 1000.0)"
        elif rule.format and "%z" in rule.format.lower():
            value = f"CAST(try_strptime({text}, {quote_literal(rule.format)}) AS TIMESTAMPTZ)"
        elif rule.format:
            value = f"timezone({tz}, try_strptime({text}, {quote_literal(rule.format)}))"
        elif rule.timezone in (None, "UTC"):
            value = f"TRY_CAST({text} AS TIMESTAMPTZ)"  # the staging session runs in UTC
        else:
            value = (
                f"CASE WHEN regexp_matches({text}, {_OFFSET}) THEN TRY_CAST({text} AS TIMESTAMPTZ) "
                f"ELSE timezone({tz}, TRY_CAST({text} AS TIMESTAMP)) END"
            )
        what = "a timestamp" + (f" in the format {rule.format}" if rule.format else "")
        return value, what
    raise ValueError(f"unknown cast {rule.cast!r}")


def _constant(rule: FieldRule) -> str:
    literal = quote_literal(rule.constant or "")
    sql_type = {
        STRING: "VARCHAR",
        NUMBER: "DOUBLE",
        INTEGER: "BIGINT",
        BOOLEAN: "BOOLEAN",
        DATE: "DATE",
        TIMESTAMP: "TIMESTAMPTZ",
    }[rule.cast]
    return f"CAST({literal} AS {sql_type})"


def _error(condition: str, column: str, reason_sql: str) -> tuple[str, str]:
    """(condition, error struct when the condition holds)."""
    return (
        f"({condition})",
        f"CASE WHEN {condition} THEN "
        f"{{'column': {quote_literal(column)}, 'reason': {reason_sql}}} END",
    )


def build_plan(
    *, mapping: Mapping, kind: Kind, columns: dict[str, str], reader: str, source_id: int
) -> StagingPlan:
    """`columns` maps each file column to its DuckDB type, in file order."""
    missing = {
        name: rule.column
        for name, rule in mapping.fields.items()
        if rule.column is not None and rule.column not in columns
    }
    if missing:
        field, column = next(iter(missing.items()))
        raise FileProblem(
            f"The mapping fills {field} from the column {column!r}, which the file does not have "
            f"(its columns: {', '.join(list(columns)[:30])})."
        )
    gaps = mapping.missing_required()
    if gaps:
        raise FileProblem(
            f"Required for {kind.table}: {', '.join(gaps)}; no column of the file is mapped to "
            f"{'it' if len(gaps) == 1 else 'them'} (its columns: {', '.join(list(columns)[:30])})."
        )

    values: dict[str, str] = {}
    # The checks run on the values and texts the inner SELECT computed once (columns named
    # below), not on expressions of their own: re-casting every checked cell cost about a
    # fifth of the staging query.
    texts: dict[str, str] = {}  # file column -> the name of its text in the inner SELECT

    def text_of(column: str) -> str:
        return quote_ident(texts.setdefault(column, f"_text_{len(texts)}"))

    errors: list[tuple[str, str]] = []
    for field in kind.fields:
        rule = mapping.fields.get(field)
        if rule is None:
            default = kind.defaults.get(field)
            values[field] = quote_literal(default) if default is not None else "NULL"
            continue
        if rule.constant is not None:
            values[field] = _constant(rule)
            continue
        value, reason = _cast(
            rule, columns[rule.column or ""], identifier=field in IDENTIFIER_FIELDS
        )
        values[field] = value
        if reason is not None:
            text = text_of(rule.column or "")
            errors.append(
                _error(
                    f"{text} IS NOT NULL AND {quote_ident('f_' + field)} IS NULL",
                    _label(rule, field),
                    _reason(text, reason),
                )
            )

    for field in kind.required:
        rule = mapping.fields[field]
        if rule.column is not None:
            text = text_of(rule.column)
            errors.append(
                _error(
                    f"{text} IS NULL", rule.column, quote_literal(f"{field} is required but empty")
                )
            )
    if kind.one_of:
        present = [
            text_of(mapping.fields[f].column or "")
            for f in kind.one_of
            if f in mapping.fields and mapping.fields[f].column is not None
        ]
        if present and len(present) == len([f for f in kind.one_of if f in mapping.fields]):
            errors.append(
                _error(
                    f"coalesce({', '.join(present)}) IS NULL",
                    "/".join(f for f in kind.one_of if f in mapping.fields),
                    quote_literal("no customer identifier on this row"),
                )
            )

    used = {rule.column for rule in mapping.fields.values() if rule.column is not None}
    if mapping.properties == "rest":
        kept = [c for c in columns if c not in used]
    elif mapping.properties == "none":
        kept = []
    else:
        unknown = [c for c in mapping.properties if c not in columns]
        if unknown:
            raise FileProblem(f"The mapping keeps the column {unknown[0]!r}, which the file lacks.")
        kept = list(mapping.properties)
    if kept:
        # Typed values (from JSON or Parquet) keep their JSON type; text stays text.
        pairs = ", ".join(
            f"{quote_literal(c)}, "
            + (_as_plain_text(c, columns[c]) if _is_text(columns[c]) else quote_ident(c))
            for c in kept
        )
        json_value = f"json_object({pairs})"
    else:
        json_value = "NULL"

    # A stable key: the message id when the row has one, else a hash of the source and the row.
    content = ", ".join(f"coalesce(CAST({quote_ident(c)} AS VARCHAR), chr(0))" for c in columns)
    row_hash = f"md5(concat_ws(chr(31), '{source_id}', {content}))"
    if "message_id" in mapping.fields:
        key = (
            f"CASE WHEN ({values['message_id']}) IS NOT NULL "
            f"THEN md5('{source_id}' || chr(30) || ({values['message_id']})) ELSE {row_hash} END"
        )
    else:
        key = row_hash

    # NULL for a good row: the list is built only for bad rows, which saves most of the work.
    if errors:
        any_bad = " OR ".join(condition for condition, _ in errors)
        structs = ", ".join(struct for _, struct in errors)
        error_list = (
            f"CASE WHEN {any_bad} THEN list_filter([{structs}], lambda x: x IS NOT NULL) END"
        )
    else:
        error_list = 'CAST(NULL AS STRUCT("column" VARCHAR, reason VARCHAR)[])'
    raw = ", ".join(quote_ident(c) for c in columns)
    field_sql = ", ".join(f"{values[f]} AS {quote_ident('f_' + f)}" for f in kind.fields)
    text_sql = "".join(
        f", {_as_text(column, columns[column])} AS {quote_ident(name)}"
        for column, name in texts.items()
    )
    inner = (
        f"SELECT {raw}, {field_sql}, {json_value} AS f__json, {key} AS f__key{text_sql} "
        f"FROM {reader}"
    )
    text_names = ", ".join(quote_ident(name) for name in texts.values())
    kept_columns = f"* EXCLUDE ({text_names})" if texts else "*"
    select_sql = f"SELECT {kept_columns}, {error_list} AS _errors FROM ({inner})"
    key_column = "event_id" if kind.table == "events" else "record_id"
    return StagingPlan(select_sql, list(kind.fields), kind.json_column, key_column)


def csv_safe_sql(expr: str) -> str:
    """Neutralise spreadsheet formulas in a cell the app writes out to CSV."""
    return (
        f"CASE WHEN regexp_matches({expr}, '^[=+\\-@\\t\\r]') THEN '''' || {expr} ELSE {expr} END"
    )
