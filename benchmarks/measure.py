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


def run_stage(
    argv: list[str], stage: str, out_prefix: Path, env: dict[str, str], *, rss_limit_mb: float | None = None
) -> dict:
    """``python <argv>`` in ROOT with stdout/stderr in ``<out_prefix>.out/.err``; raises on failure.

    With ``rss_limit_mb`` the process is watched and killed once its resident memory passes the limit (a
    reference that would otherwise exhaust the machine's memory at L); the record then says so
    (``stopped``) instead of raising, with the time it had run."""
    # not with_suffix: a step name such as "ingest.repayments" would lose ".repayments" and share its logs
    out, err = out_prefix.with_name(out_prefix.name + ".out"), out_prefix.with_name(out_prefix.name + ".err")
    started = time.perf_counter()
    stopped = None
    with out.open("w") as fout, err.open("w") as ferr:
        proc = subprocess.Popen([sys.executable, *argv], cwd=ROOT, stdout=fout, stderr=ferr, env=env)
        if rss_limit_mb is None:
            _, status, usage = os.wait4(proc.pid, 0)
        else:
            status, usage, stopped = _wait_within(proc.pid, rss_limit_mb)
    returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if stopped:
        return {"stage": stage, "stopped": stopped, "wall_s": round(wall, 2),
                "cpu_s": round(usage.ru_utime + usage.ru_stime, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}  # fmt: skip
    if returncode != 0:
        raise SystemExit(f"stage {stage} failed:\n{out.read_text()[-3000:]}\n{err.read_text()[-3000:]}")
    measured = json.loads(out.read_text().strip().splitlines()[-1])
    measured.update(
        wall_s=round(wall, 2),
        cpu_s=round(usage.ru_utime + usage.ru_stime, 2),
        peak_rss_mb=round(usage.ru_maxrss / 1024, 1),
    )
    return measured


def rss_mb(pid: int) -> float | None:
    """The resident memory of a live process in MiB (Linux ``/proc``), None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:")) / 1024
    except (OSError, StopIteration, ValueError):
        return None


def _wait_within(pid: int, limit_mb: float, every_s: float = 0.2) -> tuple[int, object, str | None]:
    """Wait for ``pid``, killing it when its RSS passes ``limit_mb``: (wait status, rusage, why it was stopped)."""
    stopped = None
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return status, usage, stopped
        rss = rss_mb(pid)
        if stopped is None and rss is not None and rss > limit_mb:
            stopped = f"killed when its resident memory passed {limit_mb:,.0f} MiB"
            os.kill(pid, 9)
        time.sleep(every_s)


def machine(versions: dict | None = None) -> dict:
    """The machine a figure was measured on: processor, cores, RAM, Python, and the given library versions."""
    import platform

    try:
        with open("/proc/meminfo") as fh:
            total_kb = next(int(line.split()[1]) for line in fh if line.startswith("MemTotal:"))
        ram_gib = round(total_kb / 2**20, 1)
    except (OSError, StopIteration):
        ram_gib = None
    return {
        "processor": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "ram_gib": ram_gib,
        "python": platform.python_version(),
        **(versions or {}),
    }


def verdict(target: dict, unit: str, below: bool = True) -> str:
    """'**met**: 23.6 s against < 60 s' for a target record (target, measured, met: None below its scale)."""
    relation = "<" if below else "≥"
    if target["met"] is None:
        return f"{target['measured']:,.1f} {unit} (the target, {relation} {target['target']:,.0f} {unit}, is set at L)"
    word = "**met**" if target["met"] else "**missed**"
    return f"{word}: {target['measured']:,.1f} {unit} against {relation} {target['target']:,.0f} {unit}"


def pyplot():  # noqa: ANN201 - matplotlib.pyplot, or None
    """matplotlib's pyplot on the Agg backend, or None when matplotlib is not installed (plots are optional)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt
