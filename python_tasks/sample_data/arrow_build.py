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
    """``prefix`` + zero-padded ``numbers`` (C000000001): 10**width + n as text, leading 1 replaced."""
    shifted = np.asarray(numbers, dtype=np.int64) + np.int64(10) ** width
    return pc.utf8_replace_slice(pc.cast(_primitive(shifted, np.int64, pa.int64(), None), pa.string()), 0, 1, prefix)


def block_ids(prefix: str, chunk: int, seq: np.ndarray, width: int) -> pa.Array:
    """Ids unique over a whole generation: 4 digits of chunk number, then ``width`` digits of sequence."""
    numbers = np.int64(chunk) * np.int64(10) ** width + np.asarray(seq, dtype=np.int64) + 1
    return ids(prefix, numbers, width + 4)


def _validity(valid: np.ndarray | None) -> pa.Buffer | None:
    if valid is None or bool(np.all(valid)):
        return None
    return pa.py_buffer(np.packbits(np.asarray(valid, dtype=bool), bitorder="little"))


def _primitive(values: np.ndarray, dtype: type, arrow: pa.DataType, valid: np.ndarray | None) -> pa.Array:
    """Wrap a numpy buffer as an Arrow array (no copy beyond the dtype conversion, no pandas)."""
    data = np.ascontiguousarray(np.asarray(values, dtype=dtype))
    return pa.Array.from_buffers(arrow, len(data), [_validity(valid), pa.py_buffer(data)])


def dates(days: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    return _primitive(days, np.int32, pa.date32(), valid)


def money(cents: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """int64 cents → decimal128(18, 2), exactly."""
    cents = np.asarray(cents, dtype=np.int64)
    n = len(cents)
    data = np.empty((n, 2), dtype=np.int64)  # little-endian int128: low word, sign word
    data[:, 0] = cents
    data[:, 1] = cents >> 63
    return pa.Array.from_buffers(pa.decimal128(18, 2), n, [_validity(valid), pa.py_buffer(data)])


def ints(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    return _primitive(values, np.int32, pa.int32(), valid)


def floats(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    return _primitive(values, np.float64, pa.float64(), valid)


def bools(values: np.ndarray) -> pa.Array:
    data = np.packbits(np.asarray(values, dtype=bool), bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(data)])


def pick(vocabulary: list[str] | tuple[str, ...], index: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Strings by index into a vocabulary (dictionary decode)."""
    dictionary = pa.array(list(vocabulary), type=pa.string())
    return pc.take(dictionary, _primitive(index, np.int32, pa.int32(), valid))


def concat_strings(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def number_strings(values: np.ndarray) -> pa.Array:
    return pc.cast(_primitive(values, np.int64, pa.int64(), None), pa.string())


def take(arr: pa.Array, index: np.ndarray) -> pa.Array:
    return arr.take(_primitive(index, np.int64, pa.int64(), None))


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
