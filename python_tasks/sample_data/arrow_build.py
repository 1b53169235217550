"""Build Arrow columns from numpy arrays without per-row Python: ids, dates, money in cents, strings.

Money is carried as int64 cents through the whole generator so that sums (balance sheets, principal
schedules) are exact; here the cents become ``decimal128(18, 2)`` by writing the 16-byte two's
complement values directly.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from python_tasks.contracts.model import Contract

_DECIMAL = re.compile(r"DECIMAL\((\d+),(\d+)\)")


def arrow_type(contract_type: str) -> pa.DataType:
    """Arrow type of a contract column type (the loader reads Parquet with these)."""
    m = _DECIMAL.fullmatch(contract_type)
    if m:
        return pa.decimal128(int(m.group(1)), int(m.group(2)))
    return {
        "VARCHAR": pa.string(),
        "DATE": pa.date32(),
        "DOUBLE": pa.float64(),
        "INTEGER": pa.int32(),
        "BIGINT": pa.int64(),
        "BOOLEAN": pa.bool_(),
        "TIMESTAMP": pa.timestamp("us"),
    }[contract_type]


def schema_of(contract: Contract) -> pa.Schema:
    return pa.schema([pa.field(c.name, arrow_type(c.type), nullable=c.nullable) for c in contract.columns])


def ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + zero-padded ``numbers`` (C000000001)."""
    digits = pc.utf8_lpad(pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def block_ids(prefix: str, chunk: int, seq: np.ndarray, width: int) -> pa.Array:
    """Ids unique over a whole generation: 4 digits of chunk number, then ``width`` digits of sequence."""
    numbers = np.int64(chunk) * np.int64(10) ** width + np.asarray(seq, dtype=np.int64) + 1
    return ids(prefix, numbers, width + 4)


def _validity(valid: np.ndarray | None) -> pa.Buffer | None:
    if valid is None or bool(np.all(valid)):
        return None
    return pa.array(np.asarray(valid, dtype=bool)).buffers()[1]


def dates(days: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    data = np.ascontiguousarray(np.asarray(days, dtype=np.int32))
    mask = None if valid is None else ~np.asarray(valid, dtype=bool)
    return pa.array(data, type=pa.int32(), mask=mask).view(pa.date32())


def money(cents: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """int64 cents → decimal128(18, 2), exactly."""
    cents = np.asarray(cents, dtype=np.int64)
    n = len(cents)
    data = np.empty((n, 2), dtype=np.int64)
    data[:, 0] = cents
    data[:, 1] = cents >> 63
    return pa.Array.from_buffers(pa.decimal128(18, 2), n, [_validity(valid), pa.py_buffer(data)])


def ints(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    mask = None if valid is None else ~np.asarray(valid, dtype=bool)
    return pa.array(np.asarray(values, dtype=np.int32), type=pa.int32(), mask=mask)


def floats(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    mask = None if valid is None else ~np.asarray(valid, dtype=bool)
    return pa.array(np.asarray(values, dtype=np.float64), type=pa.float64(), mask=mask)


def bools(values: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(values, dtype=bool), type=pa.bool_())


def pick(vocabulary: list[str] | tuple[str, ...], index: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Strings by index into a vocabulary (dictionary decode)."""
    dictionary = pa.array(list(vocabulary), type=pa.string())
    idx = pa.array(np.asarray(index, dtype=np.int32), mask=None if valid is None else ~np.asarray(valid, dtype=bool))
    return pc.take(dictionary, idx)


def concat_strings(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def number_strings(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())


def take_rows(table: pa.Table, index: np.ndarray) -> pa.Table:
    return table.take(pa.array(np.asarray(index, dtype=np.int64)))


def build_table(contract: Contract, columns: dict[str, pa.Array]) -> pa.Table:
    """A table with exactly the contract's columns, in order, with the contract's Arrow types."""
    schema = schema_of(contract)
    missing = [f.name for f in schema if f.name not in columns]
    extra = [name for name in columns if name not in schema.names]
    if missing or extra:
        raise ValueError(f"{contract.name}: columns missing {missing}, unexpected {extra}")
    arrays = []
    for field in schema:
        arr = columns[field.name]
        if arr.type != field.type:
            arr = arr.cast(field.type)
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=schema)
