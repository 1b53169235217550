"""Run one benchmark stage in a fresh interpreter and measure it: wall time, CPU time and peak RSS of
that process alone (from wait4), merged with the JSON record the stage prints as its last line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_stage(argv: list[str], stage: str, out_prefix: Path, env: dict[str, str]) -> dict:
    """``python <argv>`` in ROOT with stdout/stderr in ``<out_prefix>.out/.err``; raises on failure."""
    out, err = out_prefix.with_suffix(".out"), out_prefix.with_suffix(".err")
    started = time.perf_counter()
    with out.open("w") as fout, err.open("w") as ferr:
        proc = subprocess.Popen([sys.executable, *argv], cwd=ROOT, stdout=fout, stderr=ferr, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if returncode != 0:
        raise SystemExit(f"stage {stage} failed:\n{out.read_text()[-3000:]}\n{err.read_text()[-3000:]}")
    measured = json.loads(out.read_text().strip().splitlines()[-1])
    measured.update(
        wall_s=round(wall, 2),
        cpu_s=round(usage.ru_utime + usage.ru_stime, 2),
        peak_rss_mb=round(usage.ru_maxrss / 1024, 1),
    )
    return measured
