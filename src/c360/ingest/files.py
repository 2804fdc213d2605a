"""Recognise an uploaded file and tell DuckDB how to read it; never reads rows in Python.

Formats: CSV (any delimiter, quoted fields, UTF-8 with or without BOM, Latin-1), JSON Lines,
JSON array, Parquet, and gzip of any of these. Problems are reported as FileProblem with one
sentence a person can act on.
"""

from __future__ import annotations

import csv
import gzip
import re
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_ROW_BYTES = 1024 * 1024  # a row (or JSON object) over 1 MB is refused, not truncated
_HEAD_BYTES = 256 * 1024
_DELIMITERS = ",;\t|"


class FileProblem(ValueError):
    """The file cannot be imported; the message says why, in one sentence."""


@dataclass(frozen=True)
class SourceFile:
    path: Path  # what DuckDB reads (a decompressed copy for gzipped Parquet)
    format: str  # csv, jsonl, json, parquet
    compressed: bool
    encoding: str  # utf-8 or latin-1 (text formats)
    delimiter: str | None
    quote: str | None

    @property
    def label(self) -> str:
        return self.format + (" (gzip)" if self.compressed else "")


def _read_head(path: Path) -> tuple[bytes, bool]:
    with path.open("rb") as raw:
        magic = raw.read(2)
    if magic == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as stream:
                return stream.read(_HEAD_BYTES), True
        except (OSError, EOFError, zlib.error):
            raise FileProblem(
                "The file looks gzip-compressed but cannot be decompressed."
            ) from None
    with path.open("rb") as stream:
        return stream.read(_HEAD_BYTES), False


def _looks_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True
    sample = head[:8192]
    controls = sum(1 for byte in sample if byte < 32 and byte not in (9, 10, 13))
    return bool(sample) and controls / len(sample) > 0.02


def _encoding(head: bytes) -> str:
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3:  # the head cut a multi-byte character in two
            return "utf-8"
        return "latin-1"


def inspect_file(path: Path, *, workdir: Path, delimiter: str | None = None) -> SourceFile:
    """Work out the format, compression, encoding and CSV dialect of `path`."""
    if not path.exists():
        raise FileProblem(f"The file {path.name} does not exist.")
    if path.stat().st_size == 0:
        raise FileProblem("The file is empty.")
    head, compressed = _read_head(path)
    if not head.strip(b" \t\r\n\xef\xbb\xbf"):
        raise FileProblem("The file is empty.")
    if head.startswith(b"PAR1"):
        target = path
        if compressed:
            target = workdir / (path.name + ".parquet")
            with gzip.open(path, "rb") as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1024 * 1024)
        return SourceFile(target, "parquet", compressed, "utf-8", None, None)
    if _looks_binary(head):
        raise FileProblem(
            "The file holds binary data, not CSV, JSON or Parquet "
            "(or text in an unsupported encoding such as UTF-16)."
        )
    encoding = _encoding(head)
    text = head.decode(encoding, errors="replace").lstrip("\ufeff")
    first = text.lstrip()[:1]
    if first == "[":
        return SourceFile(path, "json", compressed, encoding, None, None)
    if first == "{":
        return SourceFile(path, "jsonl", compressed, encoding, None, None)
    dialect_delimiter = delimiter or _sniff_delimiter(text)
    return SourceFile(path, "csv", compressed, encoding, dialect_delimiter, '"')


def _sniff_delimiter(text: str) -> str:
    lines = text.splitlines()[:50]
    if len(lines) > 1 and not text.endswith(("\n", "\r")):
        lines = lines[:-1]  # the head may cut the last line
    sample = "\n".join(lines)
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        # One column, or no consistent delimiter: take the most frequent candidate in the header.
        header = lines[0] if lines else ""
        counts = {d: header.count(d) for d in _DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def estimate_rows(source: SourceFile, db: Any) -> int:
    """How many rows the file holds: exact for Parquet, from the byte size otherwise."""
    if source.format == "parquet":
        rows = db.execute(
            f"SELECT sum(num_rows) FROM parquet_file_metadata({quote_literal(str(source.path))})"
        ).fetchone()
        return int(rows[0] or 0)
    size = source.path.stat().st_size
    if source.compressed:
        with source.path.open("rb") as stream:  # gzip keeps the uncompressed size (mod 4 GiB)
            stream.seek(-4, 2)
            size = max(size, int.from_bytes(stream.read(4), "little"))
    head, _ = _read_head(source.path)
    lines = max(1, head.count(b"\n"))
    return max(1, int(size / (len(head) / lines)))


def csv_header(source: SourceFile) -> list[str]:
    """The header row as written, checked for empty and repeated names."""
    if source.compressed:
        with gzip.open(source.path, "rt", encoding=source.encoding, newline="") as stream:
            first_line = stream.readline(MAX_ROW_BYTES + 1)
    else:
        with source.path.open(encoding=source.encoding, newline="") as stream:
            first_line = stream.readline(MAX_ROW_BYTES + 1)
    first_line = first_line.lstrip("\ufeff")
    if len(first_line) > MAX_ROW_BYTES:
        raise FileProblem("The header line is longer than 1 MB; is this really a CSV file?")
    reader = csv.reader([first_line], delimiter=source.delimiter or ",", quotechar='"')
    header = [name.strip() for name in next(reader, [])]
    if not header or all(not name for name in header):
        raise FileProblem("The first line of the file must be a header row naming the columns.")
    blank = [i + 1 for i, name in enumerate(header) if not name]
    if blank:
        raise FileProblem(f"Column {blank[0]} of the header row has no name.")
    seen: set[str] = set()
    for name in header:
        if name.lower() in seen:
            raise FileProblem(f"The header row names the column {name!r} more than once.")
        seen.add(name.lower())
    return header


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def reader_sql(source: SourceFile, header: list[str] | None = None) -> str:
    """A DuckDB table function call that reads the whole file."""
    path = quote_literal(str(source.path))
    if source.format == "parquet":
        return f"read_parquet({path})"
    compression = "'gzip'" if source.compressed else "'none'"
    if source.format in ("json", "jsonl"):
        fmt = "'array'" if source.format == "json" else "'newline_delimited'"
        return (
            f"read_json({path}, format={fmt}, records=true, compression={compression}, "
            f"maximum_object_size={MAX_ROW_BYTES}, sample_size=-1)"
        )
    if header is None:
        raise ValueError("a CSV file needs its header to be read")
    columns = ", ".join(f"{quote_literal(name)}: 'VARCHAR'" for name in header)
    return (
        f"read_csv({path}, header=true, "
        f"delim={quote_literal(source.delimiter or ',')}, quote='\"', escape='\"', "
        f"encoding={quote_literal(source.encoding)}, compression={compression}, "
        f"columns={{{columns}}}, max_line_size={MAX_ROW_BYTES}, strict_mode=true, "
        "null_padding=false, auto_detect=false)"
    )


_LINE = re.compile(r"on line:? (\d+)", re.IGNORECASE)
_SIZE = re.compile(r"Actual Size:\s*(\d+)", re.IGNORECASE)


def explain_read_error(source: SourceFile, message: str) -> FileProblem:
    """Turn a DuckDB reader error into one sentence (without echoing the offending row)."""
    first = message.split("\n", 1)[0]
    line = _LINE.search(message)
    where = f" (near line {line.group(1)})" if line else ""
    lowered = message.lower()
    if (
        "maximum line size" in lowered
        or "maximum_object_size" in lowered
        or "object size" in lowered
    ):
        size = _SIZE.search(message)
        actual = f" of {int(size.group(1)) / 1e6:.1f} MB" if size else ""
        return FileProblem(f"A row{actual} is over the 1 MB limit for one row{where}.")
    if "expected number of columns" in lowered or "too many columns" in lowered:
        return FileProblem(
            f"A row has a different number of fields than the header{where}; check the delimiter "
            f"({source.delimiter!r} was used) and the quoting."
        )
    if "invalid unicode" in lowered or "utf-8" in lowered:
        return FileProblem(f"The file is not valid {source.encoding} text{where}.")
    if "malformed json" in lowered or "json" in first.lower():
        return FileProblem(f"The file is not valid {source.format.upper()}: {first[:200]}")
    if "parquet" in lowered:
        return FileProblem(f"The Parquet file cannot be read: {first[:200]}")
    return FileProblem(f"The file cannot be read as {source.label}{where}: {first[:200]}")
