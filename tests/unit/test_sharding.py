"""Client shards: stable (the same client, the same shard, in any process), even, and validated."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from python_tasks.sharding import MAX_SHARDS, check_shard_count, shard_of, shards_of


def test_reference_values():
    # BLAKE2b-64 of the id, big-endian, modulo the shard count; fixed here so that a change of the hash shows
    assert [shard_of(c, 16) for c in ("C000000123", "C000000001", "C999999999")] == [2, 8, 1]
    assert shard_of("C000000123", 1) == 0


def test_the_same_in_another_interpreter_with_another_hash_seed():
    ids = [f"C{i:09d}" for i in range(50)]
    code = ("import sys; from python_tasks.sharding import shards_of; "
            "print(','.join(map(str, shards_of(sys.argv[1:], 7))))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code, *ids], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "12345", "PATH": ""})  # fmt: skip
    assert out.stdout.strip() == ",".join(map(str, shards_of(ids, 7)))


def test_vectorised_equals_scalar_and_the_split_is_even():
    ids = [f"C{i:09d}" for i in range(20_000)]
    many = shards_of(ids, 4)
    assert many.tolist()[:200] == [shard_of(c, 4) for c in ids[:200]]
    counts = np.bincount(many, minlength=4)
    assert counts.sum() == len(ids) and counts.min() > 0.95 * len(ids) / 4


@pytest.mark.parametrize("bad", [0, -1, MAX_SHARDS + 1, 2.0, "4", True])
def test_bad_shard_counts_are_refused(bad):
    with pytest.raises(ValueError, match="number of shards"):
        check_shard_count(bad)
