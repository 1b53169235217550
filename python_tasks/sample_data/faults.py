"""Break a generated delivery on purpose, and say exactly what was broken, for tests and demos of the loader.

``inject_faults`` mutates the files of one business date after normal generation and returns one
manifest entry per injected fault: the file (relative to the inbox), the 1-based data row (header
excluded; null for a file-level fault), the column, and either the loader rule the row must be
quarantined under (``expected_rule``, e.g. ``format:uscc``) or a substring of the error that must reject
the file (``expected_error``, e.g. ``encoding``).

Every file-level fault gets a file of its own (splitting a part in two if it has to), row-level faults
never share a row, and a master source with no rows that day gets a re-delivery of some of its latest
rows from earlier dates (a harmless re-delivery: the latest version of a key wins) so the fault has a
row to live in. CSV rows are edited as bytes: the generator never quotes, and neither ``,`` nor ``\\n``
can occur inside a GBK character, so splitting a line on commas is exact in both encodings.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from python_tasks.contracts import load_contracts
from python_tasks.contracts.model import Contract

FAULT_CLASSES = (
    "truncated_file", "wrong_encoding", "empty_file", "header_only", "wrong_delimiter", "header_mismatch",
    "type_error", "null_key", "duplicate_key_within_file", "duplicate_key_across_files", "invalid_uscc",
    "unknown_industry", "unknown_region", "negative_amount", "future_date", "before_founded",
    "unknown_facility", "duplicate_delivery",
)  # fmt: skip
FILE_LEVEL = ("truncated_file", "wrong_encoding", "empty_file", "header_only", "wrong_delimiter", "header_mismatch")
MANIFEST = "_manifest.json"
UNKNOWN_FACILITY_ID = "F99999999999"
_HEAD_ROWS = 200  # row-level faults go into the first rows of a file, so only its head is rewritten
_USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"

_EVENT_CSV = ["crm_interactions", "fee_income", "ratings", "financial_statements", "repayments"]


class FaultError(RuntimeError):
    """A fault could not be placed in the delivery (for example no file of a suitable source)."""


# --- file helpers --------------------------------------------------------------------------------------


def _count_csv_rows(path: Path) -> int:
    lines, last = 0, b""
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    if path.stat().st_size and last != b"\n":
        lines += 1
    return max(lines - 1, 0)


def count_rows(path: Path) -> int | None:
    """Data rows of a delivery file (None when a Parquet file cannot be read)."""
    if path.suffix == ".csv":
        return _count_csv_rows(path) if path.stat().st_size else 0
    if path.suffix == ".parquet":
        try:
            return pq.ParquetFile(path).metadata.num_rows
        except (pa.ArrowException, OSError):
            return None
    return None


def rescan_delivery(inbox: Path, day: str, contracts: dict[str, Contract] | None = None) -> dict[str, list[dict]]:
    """The files of one business date as they are on disk now (after faults)."""
    contracts = contracts or load_contracts()
    out: dict[str, list[dict]] = {}
    for source in sorted(contracts):
        folder = inbox / source / day
        if contracts[source].delivery.format == "api" or not folder.is_dir():
            continue
        out[source] = [
            {"path": p.relative_to(inbox).as_posix(), "rows": count_rows(p), "bytes": p.stat().st_size}
            for p in sorted(folder.iterdir())
            if p.is_file()
        ]
    return out


def _read_head(path: Path, n: int) -> tuple[list[bytes], list[list[bytes]], int]:
    """(header fields, first n rows as field lists, byte offset after those rows)."""
    with path.open("rb") as fh:
        header = fh.readline()
        rows = []
        while len(rows) < n:
            line = fh.readline()
            if not line:
                break
            rows.append(line.rstrip(b"\n").split(b","))
        offset = fh.tell()
    return header.rstrip(b"\n").split(b","), rows, offset


def _write_head(path: Path, header: list[bytes], rows: list[list[bytes]], offset: int) -> None:
    """Replace the head of ``path`` (up to ``offset``) with ``header`` and ``rows``; keep the rest as is."""
    tmp = path.with_name(f".{path.name}.tmp")
    with path.open("rb") as src, tmp.open("wb") as dst:
        dst.write(b",".join(header) + b"\n")
        for row in rows:
            dst.write(b",".join(row) + b"\n")
        src.seek(offset)
        shutil.copyfileobj(src, dst, 1 << 20)
    tmp.replace(path)


def _rewrite_lines(path: Path, transform: Callable[[int, bytes], bytes]) -> None:
    """Stream every line (0 = header) through ``transform``."""
    tmp = path.with_name(f".{path.name}.tmp")
    with path.open("rb") as src, tmp.open("wb") as dst:
        for i, line in enumerate(src):
            dst.write(transform(i, line))
    tmp.replace(path)


def _split_csv_tail(path: Path, new: Path, k: int) -> None:
    """Move the last ``k`` lines of a CSV file (k < its data rows) into ``new`` with the same header."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        header = fh.readline()
        block = 1 << 16
        while True:
            start = max(size - block, 0)
            fh.seek(start)
            data = fh.read(size - start)
            body = data[:-1] if data.endswith(b"\n") else data
            idx, found = len(body), 0
            while found < k:
                j = body.rfind(b"\n", 0, idx)
                if j < 0:
                    break
                idx, found = j, found + 1
            if found == k:
                cut = start + idx + 1
                break
            if start == 0:
                raise FaultError(f"{path.name}: fewer than {k} rows to split off")
            block *= 4
        fh.seek(cut)
        tail = fh.read()
    new.write_bytes(header + tail)
    with path.open("r+b") as fh:
        fh.truncate(cut)


def _next_part_path(folder: Path, source: str, day: str, ext: str) -> Path:
    stamp = day.replace("-", "")
    numbers = [int(p.stem.rsplit("_", 1)[-1]) for p in folder.glob(f"{source}_{stamp}_*.{ext}")] if folder.is_dir() else []
    return folder / f"{source}_{stamp}_{max(numbers, default=0) + 1:03d}.{ext}"


# --- the plan: which file and row each fault goes into ---------------------------------------------------


class _Delivery:
    def __init__(self, inbox: Path, day: str, contracts: dict[str, Contract], rng: np.random.Generator) -> None:
        self.inbox = inbox
        self.day = day
        self.contracts = contracts
        self.rng = rng
        self.exclusive: set[Path] = set()
        self.used_rows: dict[Path, set[int]] = {}
        self._rows: dict[Path, int | None] = {}
        self.busy: set[str] = set()  # sources the requested row-level faults will want
        self.file_faulted: set[str] = set()  # sources holding a file-level fault (the loader rejects them)

    def prefer_for_file(self, sources: list[str]) -> list[str]:
        """File-level faults go first to sources no other fault needs: a rejected file hides the rest."""
        return sorted(sources, key=lambda s: (s in self.file_faulted, s in self.busy))

    def prefer_for_rows(self, sources: list[str]) -> list[str]:
        return sorted(sources, key=lambda s: s in self.file_faulted)

    def files(self, source: str) -> list[Path]:
        folder = self.inbox / source / self.day
        ext = self.contracts[source].file_extension
        return sorted(folder.glob(f"{source}_*.{ext}")) if folder.is_dir() else []

    def rows(self, path: Path) -> int:
        if path not in self._rows:
            self._rows[path] = count_rows(path)
        return self._rows[path] or 0

    def forget(self, path: Path) -> None:
        self._rows.pop(path, None)

    def rel(self, path: Path) -> str:
        return path.relative_to(self.inbox).as_posix()

    def free(self, path: Path) -> bool:
        return path not in self.exclusive

    def claim_file(
        self, sources: list[str], min_rows: int = 0, accept: Callable[[Path], bool] | None = None
    ) -> tuple[str, Path]:
        """A file of its own for a file-level fault, from the first candidate source that has one.

        A file with enough rows is split and the fault gets the new part (its last rows), so the rest of
        the delivery stays loadable and available to row-level faults; a file too small to split is taken
        whole.
        """
        for whole in (False, True):
            for source in self.prefer_for_file(sources):
                for path in self.files(source):
                    if not self.free(path) or path in self.used_rows:
                        continue
                    rows = self.rows(path)
                    if not whole and rows >= 2 * max(min_rows, 1):
                        new = self.split(source, path, max(min_rows, min(rows // 2, 50)))
                        if accept is None or accept(new):
                            self.exclusive.add(new)
                            self.file_faulted.add(source)
                            return source, new
                        self.used_rows.setdefault(new, set())  # leave the unusable split alone
                    elif whole and rows >= min_rows and (accept is None or accept(path)):
                        self.exclusive.add(path)
                        self.file_faulted.add(source)
                        return source, path
        raise FaultError(f"no file of {', '.join(sources)} for {self.day} to hold a file-level fault")

    def split(self, source: str, path: Path, k: int) -> Path:
        """Move the last ``k`` rows of ``path`` into a new part of the same delivery; return the new part."""
        contract = self.contracts[source]
        new = _next_part_path(path.parent, source, self.day, contract.file_extension)
        if contract.delivery.format == "csv":
            _split_csv_tail(path, new, k)
        else:
            table = pq.read_table(path)
            keep = table.num_rows - k
            pq.write_table(table.slice(0, keep), path)
            pq.write_table(table.slice(keep), new)
        self.forget(path)
        return new

    def pick_rows(self, path: Path, k: int) -> list[int]:
        """k distinct unused 1-based row numbers among the first rows of ``path``."""
        n = min(self.rows(path), _HEAD_ROWS)
        used = self.used_rows.setdefault(path, set())
        free = [r for r in range(1, n + 1) if r not in used]
        if len(free) < k:
            raise FaultError(f"{self.rel(path)}: not enough free rows")
        chosen = sorted(int(r) for r in self.rng.choice(free, size=k, replace=False))
        used.update(chosen)
        return chosen

    def row_file(self, sources: list[str], k: int = 1) -> tuple[str, Path] | None:
        """A file (not claimed by a file-level fault) of the first source with k free rows."""
        for source in sources:
            for path in self.files(source):
                if self.free(path) and min(self.rows(path), _HEAD_ROWS) - len(self.used_rows.get(path, ())) >= k:
                    return source, path
        return None

    def master_row_file(self, source: str, k: int = 1) -> tuple[str, Path]:
        """Like row_file for a master source, re-delivering earlier rows when the day has too few."""
        found = self.row_file([source], k)
        if found:
            return found
        target = self._redeliver(source, k)
        return source, target

    def _redeliver(self, source: str, k: int) -> Path:
        contract = self.contracts[source]
        key = contract.primary_key[0]
        present: set[str] = set()
        for path in self.files(source):
            present.update(str(v) for v in _read_column(contract, path, key))
        latest: dict[str, object] = {}
        earlier = sorted(
            d.name for d in (self.inbox / source).iterdir() if d.is_dir() and d.name < self.day
        ) if (self.inbox / source).is_dir() else []
        for day in earlier:
            folder = self.inbox / source / day
            for path in sorted(folder.glob(f"{source}_*.{contract.file_extension}")):
                for row_key, row in _read_rows(contract, path):
                    if row_key not in present:
                        latest[row_key] = row
        if len(latest) < k:
            raise FaultError(f"{source}: no earlier rows to re-deliver on {self.day}")
        rows = [latest[key_] for key_ in sorted(latest)[: max(k, 5)]]
        candidates = [p for p in self.files(source) if self.free(p)]
        target = candidates[0] if candidates else _next_part_path(
            self.inbox / source / self.day, source, self.day, contract.file_extension
        )
        _append_rows(contract, target, rows)
        self.forget(target)
        return target


def _read_column(contract: Contract, path: Path, column: str) -> list[object]:
    if contract.delivery.format == "parquet":
        return pq.read_table(path, columns=[column]).column(column).to_pylist()
    idx = contract.column_names.index(column)
    with path.open("rb") as fh:
        fh.readline()
        return [line.rstrip(b"\n").split(b",")[idx].decode(contract.delivery.encoding) for line in fh]


def _read_rows(contract: Contract, path: Path) -> list[tuple[str, object]]:
    key = contract.primary_key[0]
    if contract.delivery.format == "parquet":
        table = pq.read_table(path)
        keys = table.column(key).to_pylist()
        return [(str(k), table.slice(i, 1)) for i, k in enumerate(keys)]
    idx = contract.column_names.index(key)
    with path.open("rb") as fh:
        fh.readline()
        return [(line.split(b",")[idx].decode(contract.delivery.encoding), line) for line in fh]


def _append_rows(contract: Contract, path: Path, rows: list[object]) -> None:
    if contract.delivery.format == "parquet":
        parts = [pq.read_table(path)] if path.exists() else []
        pq.write_table(pa.concat_tables(parts + list(rows)), path)
        return
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes((",".join(contract.column_names) + "\n").encode("ascii"))
    with path.open("ab") as fh:
        for line in rows:
            fh.write(line if line.endswith(b"\n") else line + b"\n")


# --- row edits ------------------------------------------------------------------------------------------


def _edit_csv_row(contract: Contract, path: Path, row: int, column: str, new: Callable[[bytes], bytes]) -> bytes:
    header, rows, offset = _read_head(path, row)
    idx = [h.decode() for h in header].index(column)
    old = rows[row - 1][idx]
    rows[row - 1][idx] = new(old)
    _write_head(path, header, rows, offset)
    return old


def _edit_parquet_row(path: Path, row: int, column: str, value: object) -> object:
    table = pq.read_table(path)
    values = table.column(column).to_pylist()
    old = values[row - 1]
    values[row - 1] = value
    i = table.schema.get_field_index(column)
    table = table.set_column(i, table.schema.field(i), pa.array(values, type=table.schema.field(i).type))
    pq.write_table(table, path)
    return old


def _entry(fault: str, source: str, plan: _Delivery, path: Path, row: int | None, column: str | None, **kw: object) -> dict:
    return {"fault": fault, "source": source, "file": plan.rel(path), "row_number": row, "column": column, **kw}


# --- the faults -----------------------------------------------------------------------------------------


def _truncated_file(plan: _Delivery) -> list[dict]:
    out = []
    source, path = plan.claim_file(_EVENT_CSV + ["collateral", "clients"], min_rows=2)
    size = path.stat().st_size
    with path.open("rb") as fh:
        fh.seek(max(size - 65536, 0))
        tail = fh.read()
    last_start = tail.rstrip(b"\n").rfind(b"\n") + 1 + max(size - 65536, 0)
    line_len = size - last_start
    cut = last_start + max(line_len // 2, 1)
    with path.open("r+b") as fh:
        fh.truncate(cut)
    out.append(_entry("truncated_file", source, plan, path, None, None, expected_error="truncated"))
    source, path = plan.claim_file(["facilities", "product_holdings"], min_rows=0)
    size = path.stat().st_size
    with path.open("r+b") as fh:
        fh.truncate(max(size - 200, size // 2))
    out.append(_entry("truncated_file", source, plan, path, None, None, expected_error="truncated",
                      detail="parquet footer cut"))
    return out


def _has_non_ascii(path: Path) -> bool:
    return any(b > 0x7F for b in path.read_bytes())


def _wrong_encoding(plan: _Delivery) -> list[dict]:
    source, path = plan.claim_file(["clients", "collateral"], min_rows=1, accept=_has_non_ascii)
    path.write_bytes(path.read_bytes().decode("gbk").encode("utf-8"))
    first = _entry("wrong_encoding", source, plan, path, None, None, expected_error="encoding",
                   detail="GBK source delivered in UTF-8")
    columns = {"crm_interactions": "outcome", "fee_income": "product_code", "ratings": "model_version",
               "financial_statements": "period_type", "repayments": "facility_id"}  # fmt: skip
    source, path = plan.claim_file(list(columns), min_rows=1)
    _edit_csv_row(plan.contracts[source], path, 1, columns[source], lambda _old: "正面".encode("gbk"))
    second = _entry("wrong_encoding", source, plan, path, None, columns[source], expected_error="encoding",
                    detail="UTF-8 source with GBK bytes in data row 1")
    return [first, second]


def _empty_file(plan: _Delivery) -> list[dict]:
    source, path = plan.claim_file(["ratings", "financial_statements", "crm_interactions", "fee_income", "repayments",
                                    "collateral", "clients", "product_holdings", "facilities"])
    path.write_bytes(b"")
    return [_entry("empty_file", source, plan, path, None, None, expected_error="empty")]


def _header_only(plan: _Delivery) -> list[dict]:
    source, path = plan.claim_file(["financial_statements", "ratings", "crm_interactions", "fee_income", "repayments"], 1)
    with path.open("rb") as fh:
        header = fh.readline()
    path.write_bytes(header)
    return [_entry("header_only", source, plan, path, None, None, expected_error="no data rows")]


def _wrong_delimiter(plan: _Delivery) -> list[dict]:
    source, path = plan.claim_file(["fee_income", "crm_interactions", "ratings", "financial_statements", "repayments"], 1)
    _rewrite_lines(path, lambda _i, line: line.replace(b",", b";"))
    return [_entry("wrong_delimiter", source, plan, path, None, None, expected_error="delimiter")]


def _header_mismatch(plan: _Delivery) -> list[dict]:
    source, path = plan.claim_file(["clients"], min_rows=0)
    _rewrite_lines(path, lambda i, line: line.replace(b"employees", b"staff_count") if i == 0 else line)
    first = _entry("header_mismatch", source, plan, path, None, "employees", expected_error="missing column",
                   detail="employees renamed to staff_count")
    dropped = {"crm_interactions": "channel", "ratings": "grade", "fee_income": "fee_type",
               "financial_statements": "period_type", "repayments": "due_date"}  # fmt: skip
    source, path = plan.claim_file(list(dropped), min_rows=0)
    idx = plan.contracts[source].column_names.index(dropped[source])

    def drop(_i: int, line: bytes) -> bytes:
        fields = line.rstrip(b"\n").split(b",")
        del fields[idx]
        return b",".join(fields) + b"\n"

    _rewrite_lines(path, drop)
    second = _entry("header_mismatch", source, plan, path, None, dropped[source], expected_error="missing column",
                    detail=f"column {dropped[source]} dropped")
    return [first, second]


def _csv_fault(plan: _Delivery, fault: str, candidates: list[tuple[str, str]], value: Callable[[bytes], bytes],
               rule: str, **kw: object) -> dict:
    """Put ``value`` into one row of the first candidate (source, column) with a CSV file that has room."""
    order = plan.prefer_for_rows([s for s, _ in candidates])
    for source, column in sorted(candidates, key=lambda sc: order.index(sc[0])):
        if plan.contracts[source].delivery.format != "csv":
            continue
        found = plan.row_file([source]) if plan.contracts[source].kind == "event" else _try_master(plan, source)
        if found is None:
            continue
        _, path = found
        row = plan.pick_rows(path, 1)[0]
        old = _edit_csv_row(plan.contracts[source], path, row, column, value)
        injected = value(old).decode(plan.contracts[source].delivery.encoding, "replace")
        return _entry(fault, source, plan, path, row, column, expected_rule=f"{rule}:{column}", value=injected, **kw)
    raise FaultError(f"{fault}: no delivery file of {sorted({s for s, _ in candidates})} on {plan.day}")


def _try_master(plan: _Delivery, source: str) -> tuple[str, Path] | None:
    try:
        return plan.master_row_file(source)
    except FaultError:
        return None


def _type_error(plan: _Delivery) -> list[dict]:
    money = _csv_fault(
        plan, "type_error",
        [("repayments", "scheduled_principal_cny"), ("fee_income", "amount_cny"), ("financial_statements", "revenue_cny"),
         ("collateral", "appraised_value_cny"), ("clients", "annual_revenue_cny")],
        lambda _old: b"abc", "type",
    )
    day = _csv_fault(
        plan, "type_error",
        [("crm_interactions", "interaction_date"), ("ratings", "rating_date"), ("fee_income", "fee_date"),
         ("repayments", "due_date"), ("financial_statements", "reported_date"), ("clients", "founded_date")],
        lambda _old: b"2026-13-45", "type",
    )
    return [money, day]


def _null_key(plan: _Delivery) -> list[dict]:
    cands = [(s, plan.contracts[s].primary_key[0]) for s in ["ratings", "crm_interactions", "fee_income", "repayments",
                                                            "financial_statements", "clients", "collateral"]]
    return [_csv_fault(plan, "null_key", cands, lambda _old: b"", "not_null")]


def _duplicate_key_within_file(plan: _Delivery) -> list[dict]:
    for source in plan.prefer_for_rows(
        ["fee_income", "crm_interactions", "ratings", "repayments", "financial_statements", "clients", "collateral"]
    ):
        found = plan.row_file([source], k=2) if plan.contracts[source].kind == "event" else _try_master_k(plan, source, 2)
        if found is None:
            continue
        _, path = found
        first, second = plan.pick_rows(path, 2)
        key = plan.contracts[source].primary_key[0]
        header, rows, _ = _read_head(path, second)
        idx = [h.decode() for h in header].index(key)
        original = rows[first - 1][idx]
        _edit_csv_row(plan.contracts[source], path, second, key, lambda _old, v=original: v)
        return [_entry("duplicate_key_within_file", source, plan, path, second, key,
                       expected_rule=f"unique:{'+'.join(plan.contracts[source].primary_key)}", value=original.decode(),
                       first_row_number=first)]
    raise FaultError(f"duplicate_key_within_file: no CSV file with two rows on {plan.day}")


def _try_master_k(plan: _Delivery, source: str, k: int) -> tuple[str, Path] | None:
    try:
        return plan.master_row_file(source, k)
    except FaultError:
        return None


def _duplicate_key_across_files(plan: _Delivery) -> list[dict]:
    for source in plan.prefer_for_rows(["repayments", "fee_income", "crm_interactions", "ratings", "financial_statements"]):
        files = [p for p in plan.files(source) if plan.free(p) and plan.rows(p) >= 1]
        if len(files) < 2:
            big = [p for p in files if plan.rows(p) >= 2]
            if not big:
                continue
            plan.split(source, big[-1], min(plan.rows(big[-1]) // 2, 50))
            files = [p for p in plan.files(source) if plan.free(p) and plan.rows(p) >= 1]
        a_path, b_path = files[0], files[1]
        a_row = plan.pick_rows(a_path, 1)[0]
        b_row = plan.pick_rows(b_path, 1)[0]
        key = plan.contracts[source].primary_key[0]
        header, rows, _ = _read_head(a_path, a_row)
        original = rows[a_row - 1][[h.decode() for h in header].index(key)]
        _edit_csv_row(plan.contracts[source], b_path, b_row, key, lambda _old, v=original: v)
        return [_entry("duplicate_key_across_files", source, plan, b_path, b_row, key,
                       expected_rule=f"unique:{'+'.join(plan.contracts[source].primary_key)}", value=original.decode(),
                       first_file=plan.rel(a_path), first_row_number=a_row)]
    raise FaultError(f"duplicate_key_across_files: no event source with two rows on {plan.day}")


def _wrong_check(old: bytes) -> bytes:
    code = old.decode()
    return (code[:17] + _USCC_CHARSET[(_USCC_CHARSET.index(code[17]) + 7) % 31]).encode()


def _invalid_uscc(plan: _Delivery) -> list[dict]:
    return [_csv_fault(plan, "invalid_uscc", [("clients", "uscc")], _wrong_check, "format")]


def _unknown_industry(plan: _Delivery) -> list[dict]:
    return [
        _csv_fault(plan, "unknown_industry", [("clients", "industry_code")], lambda _o: b"Z99", "format"),
        _csv_fault(plan, "unknown_industry", [("clients", "industry_code")], lambda _o: b"C05", "format",
                   detail="division 05 belongs to section A"),
    ]


def _unknown_region(plan: _Delivery) -> list[dict]:
    return [_csv_fault(plan, "unknown_region", [("clients", "region_code")], lambda _o: b"999999", "format")]


def _negative(old: bytes) -> bytes:
    text = old.decode().lstrip("-")
    return b"-" + (text if text and text.strip("0.") else "1234.56").encode()


def _negative_amount(plan: _Delivery) -> list[dict]:
    return [_csv_fault(
        plan, "negative_amount",
        [("fee_income", "amount_cny"), ("repayments", "scheduled_interest_cny"), ("financial_statements", "revenue_cny"),
         ("collateral", "appraised_value_cny")],
        _negative, "range",
    )]


def _future_date(plan: _Delivery) -> list[dict]:
    future = (date.fromisoformat(plan.day) + timedelta(days=30)).isoformat().encode()
    return [_csv_fault(
        plan, "future_date",
        [("crm_interactions", "interaction_date"), ("fee_income", "fee_date"), ("ratings", "rating_date"),
         ("financial_statements", "reported_date"), ("collateral", "appraisal_date")],
        lambda _o: future, "not_after_business_date",
    )]


def _unknown_facility(plan: _Delivery) -> list[dict]:
    return [_csv_fault(plan, "unknown_facility", [("repayments", "facility_id"), ("collateral", "facility_id")],
                       lambda _o: UNKNOWN_FACILITY_ID.encode(), "foreign_key")]


def _founded_dates(plan: _Delivery) -> dict[str, str]:
    """client_id → founded_date from every clients file up to the business date (latest wins)."""
    contract = plan.contracts["clients"]
    cid, fdx = contract.column_names.index("client_id"), contract.column_names.index("founded_date")
    out: dict[str, str] = {}
    root = plan.inbox / "clients"
    for folder in sorted(d for d in root.iterdir() if d.is_dir() and d.name <= plan.day) if root.is_dir() else []:
        for path in sorted(folder.glob("clients_*.csv")):
            with path.open("rb") as fh:
                if fh.readline().rstrip(b"\n").split(b",") != [c.encode() for c in contract.column_names]:
                    continue
                for line in fh:
                    fields = line.rstrip(b"\n").split(b",")
                    if len(fields) == len(contract.column_names):
                        out[fields[cid].decode()] = fields[fdx].decode()
    return out


def _before_founded(plan: _Delivery) -> list[dict]:
    founded = _founded_dates(plan)
    try:
        source, path = plan.master_row_file("facilities")
    except FaultError:
        source, path = "", None
    if path is not None:
        clients = pq.read_table(path, columns=["client_id"]).column("client_id").to_pylist()
        rows = [r for r in range(1, min(len(clients), _HEAD_ROWS) + 1)
                if clients[r - 1] in founded and r not in plan.used_rows.get(path, set())]
        if rows:
            row = int(plan.rng.choice(rows))
            plan.used_rows.setdefault(path, set()).add(row)
            value = date.fromisoformat(founded[clients[row - 1]]) - timedelta(days=30)
            _edit_parquet_row(path, row, "start_date", value)
            return [_entry("before_founded", source, plan, path, row, "start_date", expected_rule="not_before:start_date",
                           value=value.isoformat(), founded_date=founded[clients[row - 1]])]
    raise FaultError(f"before_founded: no facility row with a known client on {plan.day}")


def _duplicate_delivery(plan: _Delivery) -> list[dict]:
    order = plan.prefer_for_rows(["facilities", "product_holdings", "collateral", "crm_interactions", "fee_income",
                                  "ratings", "financial_statements", "repayments", "clients"])
    candidates = [(s, p) for s in order for p in plan.files(s) if plan.free(p) and p not in plan.used_rows]
    if not candidates:
        candidates = [(s, p) for s in order for p in plan.files(s) if plan.free(p)]
    if not candidates:
        raise FaultError(f"duplicate_delivery: no file on {plan.day}")
    source, original = candidates[0]
    next_day = (date.fromisoformat(plan.day) + timedelta(days=1)).isoformat()
    folder = plan.inbox / source / next_day
    folder.mkdir(parents=True, exist_ok=True)
    copy = _next_part_path(folder, source, next_day, plan.contracts[source].file_extension)
    shutil.copyfile(original, copy)
    return [_entry("duplicate_delivery", source, plan, copy, None, None, expected_error="duplicate delivery",
                   duplicate_of=plan.rel(original), delivery_date=next_day)]


_HANDLERS: dict[str, Callable[[_Delivery], list[dict]]] = {
    "truncated_file": _truncated_file,
    "wrong_encoding": _wrong_encoding,
    "empty_file": _empty_file,
    "header_only": _header_only,
    "wrong_delimiter": _wrong_delimiter,
    "header_mismatch": _header_mismatch,
    "duplicate_key_across_files": _duplicate_key_across_files,
    "type_error": _type_error,
    "null_key": _null_key,
    "duplicate_key_within_file": _duplicate_key_within_file,
    "invalid_uscc": _invalid_uscc,
    "unknown_industry": _unknown_industry,
    "unknown_region": _unknown_region,
    "negative_amount": _negative_amount,
    "future_date": _future_date,
    "before_founded": _before_founded,
    "unknown_facility": _unknown_facility,
    "duplicate_delivery": _duplicate_delivery,
}
_ORDER = list(_HANDLERS)
_ROW_FAULT_SOURCES = {
    "type_error": ("repayments", "crm_interactions"),
    "null_key": ("ratings",),
    "duplicate_key_within_file": ("fee_income",),
    "duplicate_key_across_files": ("repayments",),
    "invalid_uscc": ("clients",),
    "unknown_industry": ("clients",),
    "unknown_region": ("clients",),
    "negative_amount": ("fee_income",),
    "future_date": ("crm_interactions",),
    "before_founded": ("facilities",),
    "unknown_facility": ("repayments",),
}
"""The first-choice source of each row-level fault, kept free of file-level faults where possible."""  # file-level first, then the split for cross-file duplicates, rows, the copy last


def _ancestors(contracts: dict[str, Contract], source: str) -> set[str]:
    out: set[str] = set()
    todo = [source]
    while todo:
        for fk in contracts[todo.pop()].foreign_keys:
            if fk.references not in out:
                out.add(fk.references)
                todo.append(fk.references)
    return out


def _mark_isolated(entries: list[dict], contracts: dict[str, Contract]) -> None:
    """``isolated``: no other injected fault can hide this one from the loader.

    The loader rejects a source's whole delivery at its first unreadable file, so a row-level fault (or the
    original of a duplicate delivery) is not seen when its source, or a source it references (whose rows
    its checks need), also holds a rejected file; of two rejected files in one source only one is
    reported. A header-only file is loaded (with a warning) and hides nothing.
    """
    rejecting: dict[str, int] = {}
    for e in entries:
        if e["fault"] in FILE_LEVEL and e["fault"] != "header_only":
            rejecting[e["source"]] = rejecting.get(e["source"], 0) + 1
    for e in entries:
        if e["fault"] in FILE_LEVEL:
            own = 1 if e["fault"] != "header_only" else 0
            e["isolated"] = rejecting.get(e["source"], 0) == own
        else:
            involved = {e["source"]} | _ancestors(contracts, e["source"])
            e["isolated"] = not any(rejecting.get(s) for s in involved)


def inject_faults(
    inbox: Path, as_of_date: str | date, faults: list[str], seed: int, *, update_manifest: bool = True
) -> list[dict]:
    """Mutate the delivery of ``as_of_date`` with each fault class in ``faults``; return manifest entries.

    With ``update_manifest`` (the default) an existing ``_manifest.json`` gets the entries appended and
    the file listing of the touched dates refreshed.
    """
    inbox = Path(inbox)
    day = as_of_date.isoformat() if isinstance(as_of_date, date) else str(as_of_date)
    unknown = [f for f in faults if f not in _HANDLERS]
    if unknown:
        raise ValueError(f"unknown fault class(es) {unknown}; known: {', '.join(FAULT_CLASSES)}")
    contracts = load_contracts()
    rng = np.random.default_rng(np.random.SeedSequence([seed, date.fromisoformat(day).toordinal(), 606]))
    plan = _Delivery(inbox, day, contracts, rng)
    plan.busy = {source for fault in faults for source in _ROW_FAULT_SOURCES.get(fault, ())}
    entries: list[dict] = []
    for fault in sorted(dict.fromkeys(faults), key=_ORDER.index):
        entries.extend(_HANDLERS[fault](plan))
    _mark_isolated(entries, contracts)
    if update_manifest and (inbox / MANIFEST).exists():
        manifest = json.loads((inbox / MANIFEST).read_text(encoding="utf-8"))
        manifest.setdefault("faults", []).extend(entries)
        next_day = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
        for d in (day, next_day):
            listing = rescan_delivery(inbox, d, contracts)
            if listing:
                manifest.setdefault("deliveries", {})[d] = {
                    s: {"rows": sum(f["rows"] or 0 for f in files), "files": files} for s, files in listing.items()
                }
        manifest["deliveries"] = dict(sorted(manifest["deliveries"].items()))
        (inbox / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return entries
