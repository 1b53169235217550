"""Write deliveries the way the bank's systems do: part files per source and business date.

``<inbox>/<source>/<YYYY-MM-DD>/<source>_<YYYYMMDD>_<NNN>.<ext>``, parts of at most ``part_rows`` rows.
CSV: header with the contract's columns, comma, ``\\n``, no quoting (values never need it), empty for
null, encoded as the contract says (UTF-8 straight from Arrow's writer, GBK re-encoded per chunk).
Parquet: the contract's Arrow types. A source with nothing to deliver on a day still gets part 001 (a
header-only CSV or an empty Parquet file): the loader treats a missing delivery as an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from python_tasks.contracts.model import Contract
from python_tasks.sample_data.arrow_build import schema_of

_CSV_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="none", batch_size=65_536)


def delivery_path(inbox: Path, contract: Contract, day: str, part: int) -> Path:
    """``<inbox>/<source>/<YYYY-MM-DD>/<source>_<YYYYMMDD>_<NNN>.<ext>``."""
    stamp = day.replace("-", "")
    return inbox / contract.name / day / f"{contract.name}_{stamp}_{part:03d}.{contract.file_extension}"


def csv_header(contract: Contract) -> bytes:
    return (",".join(contract.column_names) + "\n").encode("ascii")


def csv_body(table: pa.Table, encoding: str) -> bytes:
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, write_options=_CSV_OPTIONS)
    body = sink.getvalue().to_pybytes()
    if encoding == "utf-8":
        return body
    return body.decode("utf-8").encode(encoding)


def append_csv(path: Path, table: pa.Table, encoding: str) -> None:
    """Append rows without a header; UTF-8 streams straight from Arrow's writer into the file."""
    if encoding == "utf-8":
        with pa.OSFile(str(path), "ab") as sink:
            pacsv.write_csv(table, sink, write_options=_CSV_OPTIONS)
        return
    for start in range(0, table.num_rows, 200_000):  # bounded memory for the re-encoding
        with path.open("ab") as fh:
            fh.write(csv_body(table.slice(start, 200_000), encoding))


@dataclass
class _Part:
    path: Path
    rows: int = 0
    writer: pq.ParquetWriter | None = None


@dataclass
class _Delivery:
    parts: list[_Part] = field(default_factory=list)


class DeliveryWriter:
    """Appends chunks of rows to the part files of (source, business date) deliveries."""

    def __init__(self, inbox: Path, contracts: dict[str, Contract], part_rows: int) -> None:
        if part_rows < 1:
            raise ValueError("part_rows must be at least 1")
        self.inbox = inbox
        self.contracts = contracts
        self.part_rows = part_rows
        self._deliveries: dict[tuple[str, str], _Delivery] = {}

    def _open_part(self, contract: Contract, day: str, delivery: _Delivery) -> _Part:
        path = delivery_path(self.inbox, contract, day, len(delivery.parts) + 1)
        path.parent.mkdir(parents=True, exist_ok=True)
        part = _Part(path)
        if contract.delivery.format == "csv":
            path.write_bytes(csv_header(contract))
        else:
            part.writer = pq.ParquetWriter(path, schema_of(contract), compression="snappy")
        delivery.parts.append(part)
        return part

    def _close(self, part: _Part) -> None:
        if part.writer is not None:
            part.writer.close()
            part.writer = None

    def write(self, source: str, day: str, table: pa.Table) -> None:
        contract = self.contracts[source]
        delivery = self._deliveries.setdefault((source, day), _Delivery())
        offset = 0
        while offset < table.num_rows:
            part = delivery.parts[-1] if delivery.parts else self._open_part(contract, day, delivery)
            if part.rows >= self.part_rows:
                self._close(part)
                part = self._open_part(contract, day, delivery)
            take = min(self.part_rows - part.rows, table.num_rows - offset)
            piece = table.slice(offset, take)
            if contract.delivery.format == "csv":
                append_csv(part.path, piece, contract.delivery.encoding)
            else:
                part.writer.write_table(piece)
            part.rows += take
            offset += take

    def finish(self, days: list[str]) -> dict[str, dict[str, list[dict]]]:
        """Close every file, give empty deliveries their part 001, and list the files per day and source."""
        listing: dict[str, dict[str, list[dict]]] = {}
        for day in days:
            for source in sorted(self.contracts):
                contract = self.contracts[source]
                if contract.delivery.format == "api":
                    continue
                delivery = self._deliveries.setdefault((source, day), _Delivery())
                if not delivery.parts:
                    self._open_part(contract, day, delivery)
                for part in delivery.parts:
                    self._close(part)
                listing.setdefault(day, {})[source] = [
                    {
                        "path": part.path.relative_to(self.inbox).as_posix(),
                        "rows": part.rows,
                        "bytes": part.path.stat().st_size,
                    }
                    for part in delivery.parts
                ]
        return listing


def write_api_payload(inbox: Path, source: str, as_of_date: str, records: list[dict]) -> dict:
    """``<inbox>/_api/<source>/<YYYY-MM-DD>.json``: what the vendor's API answers for that date."""
    path = inbox / "_api" / source / f"{as_of_date}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"source": source, "as_of_date": as_of_date, "records": records}
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    # one record per line keeps the files diffable without inflating them
    text = text.replace('},{"', '},\n{"')
    path.write_text(text + "\n", encoding="utf-8")
    return {"path": path.relative_to(inbox).as_posix(), "records": len(records), "bytes": path.stat().st_size}
