"""Read one landed file into a temporary DuckDB table of text columns, or say clearly why not.

Every file-level problem (empty, undecodable, truncated, wrong delimiter, wrong header, narrowed type)
raises :class:`DeliveryError` naming the file, the line where known, and the rule. Row-level problems are
not judged here: all values stay text so that the loader can quarantine each bad row with its reason.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from python_tasks.contracts.model import Contract
from python_tasks.contracts.render import quote_identifier as q
from python_tasks.ingest.rules import sql_literal

_CHUNK = 1 << 20
_DUCKDB_LINE = re.compile(r"CSV Error on Line: (\d+)")


class DeliveryError(Exception):
    """A delivered file that cannot be read at all. The message names the file and the problem."""

    def __init__(self, file: Path | str, problem: str, *, rule: str, line: int | None = None) -> None:
        self.file = str(file)
        self.problem = problem
        self.rule = rule
        self.line = line
        where = f"{self.file}" + (f", line {line}" if line is not None else "")
        super().__init__(f"{where}: {problem} [rule {rule}]")


@dataclass
class StagedFile:
    """A file exposed as temp view ``view``: file name, 1-based data row number, one text column per
    contract column (``_raw_<name>``). Views read the file lazily: errors in the data surface when the
    loader scans them, and :func:`file_error` turns them into a :class:`DeliveryError` for this file."""

    path: Path
    view: str
    readable: Path
    warnings: list[str] = field(default_factory=list)

    def cleanup(self) -> None:
        if self.readable != self.path:
            self.readable.unlink(missing_ok=True)


def stage_file(
    con: duckdb.DuckDBPyConnection, contract: Contract, path: Path, table: str, work_dir: Path
) -> StagedFile:
    """Read ``path`` (format and encoding from the contract) into temp table ``table``."""
    if path.stat().st_size == 0:
        raise DeliveryError(
            path, "empty file (0 bytes); even an empty delivery carries a header row", rule="file:empty"
        )
    fmt = contract.delivery.format
    if fmt == "csv":
        return _stage_csv(con, contract, path, table, work_dir)
    if fmt == "parquet":
        return _stage_parquet(con, contract, path, table)
    return _stage_json(con, contract, path, table)


# --- CSV -----------------------------------------------------------------------------------------------


def _first_bad_byte(path: Path, encoding: str) -> tuple[int, int] | None:
    """(line, byte offset) of the first byte sequence that does not decode, or None if all of it does."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset, line = 0, 1
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return line + chunk[: exc.start].count(b"\n"), offset + exc.start
            line += chunk.count(b"\n")
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return line, offset
    return None


def _looks_like_utf8_text(path: Path) -> bool:
    """True when the file decodes as UTF-8 and holds non-ASCII text: a GBK file almost never does."""
    has_multibyte = False
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return False
            has_multibyte = has_multibyte or max(chunk) > 0x7F
    return has_multibyte


def _transcode_gbk(path: Path, work_dir: Path) -> Path:
    """GBK (decoded as its superset GB18030) → a UTF-8 working copy DuckDB can read."""
    if _looks_like_utf8_text(path):
        raise DeliveryError(path, "file is UTF-8 encoded but the contract declares GBK", rule="file:encoding")
    work_dir.mkdir(parents=True, exist_ok=True)
    target = work_dir / (path.name + ".utf8")
    try:
        with (
            path.open("r", encoding="gb18030", newline="") as src,
            target.open("w", encoding="utf-8", newline="") as dst,
        ):
            while chunk := src.read(_CHUNK):
                dst.write(chunk)
    except UnicodeDecodeError:
        target.unlink(missing_ok=True)
        line, offset = _first_bad_byte(path, "gb18030") or (None, 0)
        raise DeliveryError(
            path, f"not valid GBK at byte offset {offset}; the contract declares GBK", rule="file:encoding", line=line
        ) from None
    return target


def _read_header(path: Path, display: Path, delimiter: str) -> list[str]:
    with path.open("r", encoding="utf-8", newline="") as fh:
        first = fh.readline()
    if not first.strip():
        raise DeliveryError(display, "the first line is empty; expected the header row", rule="file:header", line=1)
    header = next(csv.reader([first.rstrip("\r\n").lstrip("\ufeff")], delimiter=delimiter))
    return [h.strip() for h in header]


def _check_header(contract: Contract, header: list[str], display: Path, delimiter: str) -> list[str]:
    """Map each header position to a contract column name (or ``_extra_<n>``), or reject the file."""
    expected = contract.column_names
    if len(header) == 1 and len(expected) > 1:
        for other in (";", "\t", "|"):
            if other in header[0]:
                raise DeliveryError(
                    display,
                    f"header is {other!r}-delimited; the contract requires {delimiter!r} as the delimiter",
                    rule="file:delimiter",
                    line=1,
                )
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise DeliveryError(display, f"header repeats column(s) {', '.join(duplicates)}", rule="file:header", line=1)
    required_missing = [c.name for c in contract.columns if c.required and c.name not in header]
    extra = [h for h in header if h not in expected]
    if required_missing:
        hint = f"; unexpected column(s) {', '.join(extra)} (renamed?)" if extra else ""
        raise DeliveryError(
            display,
            f"missing column(s) {', '.join(required_missing)}{hint}",
            rule="file:header",
            line=1,
        )
    names, n_extra = [], 0
    for h in header:
        if h in expected:
            names.append(h)
        else:
            n_extra += 1
            names.append(f"_extra_{n_extra}")
    return names


def _stage_csv(
    con: duckdb.DuckDBPyConnection, contract: Contract, path: Path, table: str, work_dir: Path
) -> StagedFile:
    delimiter = contract.delivery.delimiter
    readable = path if contract.delivery.encoding == "utf-8" else _transcode_gbk(path, work_dir)
    try:
        header = _read_header(readable, path, delimiter)
    except UnicodeDecodeError:
        bad = _first_bad_byte(readable, "utf-8") or (1, 0)
        raise DeliveryError(
            path,
            f"not valid UTF-8 at byte offset {bad[1]} (GBK bytes?); the contract declares UTF-8",
            rule="file:encoding",
            line=bad[0],
        ) from None
    except DeliveryError:
        if readable != path:
            readable.unlink(missing_ok=True)
        raise
    names = _check_header(contract, header, path, delimiter)
    columns = "{" + ", ".join(f"{sql_literal(n)}: 'VARCHAR'" for n in names) + "}"
    source = (
        f"read_csv({sql_literal(str(readable))}, header = true, all_varchar = true, auto_detect = false, "
        f"delim = {sql_literal(delimiter)}, quote = '\"', escape = '\"', strict_mode = true, "
        f"null_padding = false, columns = {columns}) WITH ORDINALITY"
    )
    _create_view(con, contract, path, table, source, "ordinality", names)
    return StagedFile(path, table, readable, _extra_warning(header, contract))


def file_error(staged: StagedFile, exc: duckdb.Error) -> DeliveryError:
    """The :class:`DeliveryError` for a DuckDB error raised while scanning ``staged``."""
    if staged.path.suffix == ".csv":
        return _csv_error(staged.path, exc, staged.readable)
    first = str(exc).splitlines()[0]
    return DeliveryError(staged.path, f"unreadable file: {first}", rule="file:unreadable")


def names_file(staged: StagedFile, exc: duckdb.Error) -> bool:
    """Whether DuckDB's error message is about this staged file."""
    return str(staged.readable) in str(exc)


def _csv_error(path: Path, exc: duckdb.Error, readable: Path) -> DeliveryError:
    text = str(exc)
    match = _DUCKDB_LINE.search(text)
    line = int(match.group(1)) if match else None
    if "Invalid unicode" in text:
        bad = _first_bad_byte(readable, "utf-8")
        return DeliveryError(
            path,
            "not valid UTF-8"
            + (f" at byte offset {bad[1]}" if bad else "")
            + " (GBK bytes?); the contract declares UTF-8",
            rule="file:encoding",
            line=bad[0] if bad else line,
        )
    if "Expected Number of Columns" in text:
        found = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", text)
        detail = f" (expected {found.group(1)} fields, found {found.group(2)})" if found else ""
        total_lines = _count_lines(readable)
        is_last = line is not None and line >= total_lines
        problem = "truncated: the last row is incomplete" if is_last else "row has the wrong number of fields"
        return DeliveryError(path, problem + detail, rule="file:truncated" if is_last else "file:malformed", line=line)
    if "unterminated quote" in text.lower() or "quote" in text.lower():
        return DeliveryError(path, "unterminated quoted field (truncated file?)", rule="file:truncated", line=line)
    first = text.splitlines()[0] if text else type(exc).__name__
    return DeliveryError(path, f"unreadable CSV: {first}", rule="file:unreadable", line=line)


def _count_lines(path: Path) -> int:
    count, last = 0, b""
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            count += chunk.count(b"\n")
            last = chunk
    return count + (0 if last.endswith(b"\n") else 1)


def _extra_warning(header: list[str], contract: Contract) -> list[str]:
    extra = [h for h in header if h not in contract.column_names]
    absent = [c.name for c in contract.columns if not c.required and c.name not in header]
    warnings = []
    if extra:
        warnings.append(f"column(s) not in the contract ignored: {', '.join(extra)}")
    if absent:
        warnings.append(f"optional column(s) absent, loaded as null: {', '.join(absent)}")
    return warnings


# --- Parquet -------------------------------------------------------------------------------------------

_INTEGER_WIDTH = {"TINYINT": 1, "SMALLINT": 2, "INTEGER": 4, "BIGINT": 8, "HUGEINT": 16}
_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")


def narrowing(contract_type: str, file_type: str) -> str | None:
    """Why a file column of ``file_type`` cannot carry every value of ``contract_type``, or None."""
    want, got = contract_type.upper(), file_type.upper()
    if want == got:
        return None
    dw, dg = _DECIMAL.fullmatch(want), _DECIMAL.fullmatch(got)
    if dw:
        scale = int(dw.group(2))
        if dg and (int(dg.group(2)) < scale or int(dg.group(1)) - int(dg.group(2)) < int(dw.group(1)) - scale):
            return f"narrowed from {contract_type} to {file_type}"
        if got in _INTEGER_WIDTH and scale > 0:
            return f"narrowed from {contract_type} to {file_type} (cents lost)"
        return None
    if want in _INTEGER_WIDTH and got in _INTEGER_WIDTH and _INTEGER_WIDTH[got] < _INTEGER_WIDTH[want]:
        return f"narrowed from {contract_type} to {file_type}"
    if want == "DOUBLE" and got == "FLOAT":
        return f"narrowed from {contract_type} to {file_type}"
    if want in ("DATE", "TIMESTAMP") and got in _INTEGER_WIDTH:
        return f"changed from {contract_type} to {file_type}"
    return None


def _stage_parquet(con: duckdb.DuckDBPyConnection, contract: Contract, path: Path, table: str) -> StagedFile:
    try:
        described = con.execute("DESCRIBE SELECT * FROM read_parquet($path)", {"path": str(path)}).fetchall()
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0]
        raise DeliveryError(path, f"unreadable Parquet file (truncated?): {first}", rule="file:unreadable") from None
    file_types = {row[0]: row[1] for row in described}
    header = list(file_types)
    names = _check_header(contract, header, path, ",")
    for col in contract.columns:
        if col.name in file_types and (why := narrowing(col.type, file_types[col.name])):
            raise DeliveryError(path, f"column {col.name} {why}", rule="file:schema")
    source = f"read_parquet({sql_literal(str(path))}, file_row_number = true)"
    mapping = [n if not n.startswith("_extra_") else None for n in names]
    _create_view(con, contract, path, table, source, "file_row_number + 1", header, rename=mapping)
    return StagedFile(path, table, path, _extra_warning(header, contract))


# --- JSON (external API payloads) ----------------------------------------------------------------------


def _stage_json(con: duckdb.DuckDBPyConnection, contract: Contract, path: Path, table: str) -> StagedFile:
    try:
        with path.open(encoding="utf-8") as fh:
            payload = json.load(fh)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise DeliveryError(path, f"unreadable JSON: {exc}", rule="file:unreadable", line=line) from None
    records = payload.get("records") if isinstance(payload, dict) else None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise DeliveryError(path, "JSON payload has no 'records' list of objects", rule="file:schema")
    if payload.get("source") not in (None, contract.name):
        raise DeliveryError(
            path, f"payload is for source {payload.get('source')!r}, not {contract.name}", rule="file:schema"
        )
    keys: list[str] = []
    for record in records:
        for key in record:
            if key not in keys:
                keys.append(key)
    if records:
        _check_header(contract, keys, path, ",")
    present = [c for c in contract.column_names if c in keys or not records]
    arrays = {
        name: pa.array([None if r.get(name) is None else _json_text(r.get(name)) for r in records], type=pa.string())
        for name in present
    }
    arrow_table = pa.table(arrays) if arrays else pa.table({contract.column_names[0]: pa.array([], pa.string())})
    con.register("_json_records", arrow_table)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {q(table + '_records')} AS SELECT * FROM _json_records")
    finally:
        con.unregister("_json_records")
    present = list(arrow_table.column_names)
    source = f"(SELECT *, row_number() OVER (ORDER BY rowid) AS _n FROM {q(table + '_records')})"
    _create_view(con, contract, path, table, source, "_n", present)
    return StagedFile(path, table, path, _extra_warning(keys, contract))


def _json_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- common --------------------------------------------------------------------------------------------


def _create_view(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    path: Path,
    view: str,
    source: str,
    row_number: str,
    present: list[str],
    rename: list[str | None] | None = None,
) -> None:
    """Temp view over ``source``: file name, row number, one text column per contract column as delivered
    (absent optional columns as NULL; the loader trims and turns empty text into NULL). ``rename`` maps the
    file's columns to contract names (None: ignore)."""
    available = dict(zip(rename, present, strict=True)) if rename else {n: n for n in present}
    cols = []
    for col in contract.columns:
        if col.name in available:
            cols.append(f"CAST({q(available[col.name])} AS VARCHAR) AS {q('_raw_' + col.name)}")
        else:
            cols.append(f"CAST(NULL AS VARCHAR) AS {q('_raw_' + col.name)}")
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {q(view)} AS SELECT {sql_literal(path.name)} AS _source_file, "
        f"{row_number} AS _row_number, {', '.join(cols)} FROM {source}"
    )
