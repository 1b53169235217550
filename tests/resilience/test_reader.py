"""A BI reader beside a whole daily run: never blocked, never an error, always one consistent publication.

Two reader processes (crash_reader.py) open the serving file read-only, as a BI tool does, before the clean
reference run of D1 starts and query it until the run has finished (all 27 steps, in four processes): one holds
a single connection throughout, the other opens a new connection for every round. Each round reads the latest
publication and counts the rows of every table it lists in the same connection; the counts must be the ones
that publication recorded. The held connection must keep seeing D0's publication (its snapshot) and see D1's
after reconnecting; the reconnecting reader must see D0's, then D1's, and nothing else.
"""

from __future__ import annotations

import pytest
from crash_support import D0, D1, RUN_D0, RUN_D1, clean_reference

#: a BI query may take this long at most, on this shared 2-core machine under the load of a whole run
SLOWEST_SECONDS = 2.0
OLD, NEW = [D0.isoformat(), RUN_D0], [D1.isoformat(), RUN_D1]


@pytest.fixture(scope="module")
def readers(tmp_path_factory) -> dict[str, dict]:
    ref = clean_reference(tmp_path_factory)
    return {r["mode"]: r for r in ref.readers}


@pytest.mark.parametrize("mode", ["hold", "reconnect"])
def test_reader_is_never_blocked_and_never_fails(readers, mode):
    seen = readers[mode]
    print(f"{mode}: {seen['rounds']} rounds, slowest {seen['slowest']:.3f} s, publications seen {seen['seen']}")
    assert seen["errors"] == []
    assert seen["inconsistent"] == []
    assert seen["rounds"] >= 50, "the reader hardly queried during the run"
    assert seen["slowest"] < SLOWEST_SECONDS


def test_a_held_connection_keeps_its_snapshot_and_a_reconnect_sees_the_new_run(readers):
    hold = readers["hold"]
    assert hold["seen"] == [OLD], "the open connection saw something other than the publication it opened"
    assert hold["after_reconnect"] == NEW


def test_a_reconnecting_reader_sees_the_old_then_the_new_publication(readers):
    again = readers["reconnect"]
    assert again["seen"] == [OLD, NEW], "a new connection saw a publication other than the last complete one"
    assert again["after_reconnect"] == NEW
