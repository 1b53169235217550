"""Small hand-made deliveries for the loader tests, written in the formats the contracts declare."""

from __future__ import annotations

import csv
import decimal
import hashlib
import io
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from python_tasks.codes.uscc import make_uscc
from python_tasks.contracts import load_contract

D0 = date(2026, 11, 20)
D1 = date(2026, 11, 21)
USCC = make_uscc("9", "1", "440300", "MA5ABCDE1")


def client_row(i: int, **overrides: str) -> dict[str, str]:
    row = {
        "client_id": f"C{i:09d}",
        "uscc": make_uscc("9", "1", "440300", f"MA5{i:06d}"),
        "company_name": f"深圳市测试{i}科技有限公司",
        "legal_rep_name": "张三",
        "legal_rep_id_number": "11010519491231002X",
        "legal_rep_phone": "13800138000",
        "industry_code": "C39",
        "region_code": "440300",
        "registered_capital_cny": "1000000.00",
        "employees": "120",
        "annual_revenue_cny": "50000000.00",
        "total_assets_cny": "30000000.00",
        "founded_date": "2010-05-01",
        "onboarded_date": "2015-01-01",
        "relationship_manager_id": "RM0001",
        "client_status": "active",
    }
    row.update(overrides)
    return row


def facility_row(i: int, client: int = 1, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "facility_id": f"F{i:09d}",
        "client_id": f"C{client:09d}",
        "product_code": "working_capital_loan",
        "currency": "CNY",
        "limit_cny": decimal.Decimal("1000000.00"),
        "drawn_balance_cny": decimal.Decimal("500000.00"),
        "interest_rate_pct": 3.85,
        "rate_basis": "LPR1Y",
        "spread_bps": 50,
        "start_date": date(2020, 1, 1),
        "maturity_date": date(2027, 1, 1),
        "repayment_type": "equal_installment",
        "facility_status": "active",
    }
    row.update(overrides)
    return row


def repayment_row(i: int, facility: int = 1, client: int = 1, **overrides: str) -> dict[str, str]:
    row = {
        "repayment_id": f"R{i:09d}",
        "facility_id": f"F{facility:09d}",
        "client_id": f"C{client:09d}",
        "installment_no": str(i),
        "due_date": "2026-11-20",
        "scheduled_principal_cny": "1000.00",
        "scheduled_interest_cny": "100.00",
        "paid_date": "2026-11-20",
        "paid_principal_cny": "1000.00",
        "paid_interest_cny": "100.00",
    }
    row.update(overrides)
    return row


def csv_bytes(columns: list[str], rows: list[dict[str, str]], encoding: str, delimiter: str = ",") -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(c, "") for c in columns])
    return buf.getvalue().encode(encoding)


#: Arrow type of each contract type, as the loan system writes its Parquet files.
ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "DATE": pa.date32(),
    "DOUBLE": pa.float64(),
    "INTEGER": pa.int32(),
    "DECIMAL(18,2)": pa.decimal128(18, 2),
}


def parquet_bytes(columns: list[str], rows: list[dict[str, object]], schema: pa.Schema | None = None) -> bytes:
    contract = load_contract("facilities")
    schema = schema or pa.schema([(c, ARROW_TYPES[contract.column(c).type]) for c in columns])
    table = pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in rows], schema=schema)
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


class Inbox:
    """Writes deliveries where the loader picks them up: ``<inbox>/<source>/<D>/<source>_<YYYYMMDD>_NNN.ext``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, source: str, day: date) -> Path:
        folder = self.root / source / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def write(self, source: str, day: date, payload: bytes, part: int = 1) -> Path:
        contract = load_contract(source)
        path = self.folder(source, day) / f"{source}_{day:%Y%m%d}_{part:03d}.{contract.file_extension}"
        path.write_bytes(payload)
        return path

    def csv(self, source: str, day: date, rows: list[dict[str, str]], part: int = 1, **kwargs: object) -> Path:
        contract = load_contract(source)
        columns = kwargs.pop("columns", None) or contract.column_names
        encoding = kwargs.pop("encoding", None) or contract.delivery.encoding
        return self.write(source, day, csv_bytes(columns, rows, encoding, **kwargs), part)

    def facilities(self, day: date, rows: list[dict[str, object]], part: int = 1, **kwargs: object) -> Path:
        columns = kwargs.pop("columns", None) or load_contract("facilities").column_names
        return self.write("facilities", day, parquet_bytes(columns, rows, **kwargs), part)


def table_hash(con, table: str) -> str:
    """Content hash of a table, independent of row order and of the load's own metadata."""
    cols = [
        r[0]
        for r in con.execute(f"DESCRIBE {table}").fetchall()
        if r[0] not in ("_run_id", "_loaded_at", "run_id", "quarantined_at")
    ]
    rows = con.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY ALL").fetchall()
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def macro_row(scenario: str, **overrides: object) -> dict[str, object]:
    """One month of the macro API payload, plausible unless overridden."""
    row: dict[str, object] = {
        "indicator_month": "2026-10-01",
        "scenario": scenario,
        "is_forecast": False,
        "gdp_growth_pct": 4.8,
        "cpi_yoy_pct": 0.4,
        "ppi_yoy_pct": -2.1,
        "pmi": 49.8,
        "lpr_1y_pct": 3.0,
        "lpr_5y_pct": 3.5,
        "m2_growth_pct": 8.1,
    }
    row.update(overrides)
    return row
