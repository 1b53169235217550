"""Deterministic, streaming sample-data generator: the deliveries a Chinese bank's systems would send.

``generate()`` writes the initial history load for a first business date and daily deltas after it into an
inbox (layout in :mod:`.writers`, semantics in :mod:`.deliveries`), the external API payloads (served by
:mod:`.api_server`) and ``_manifest.json``; ``inject_faults()`` breaks a delivery on purpose for the loader's
tests. See README.md in this folder.

Exports are resolved lazily so that ``api_server`` stays a standard-library-only import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from python_tasks.sample_data.faults import FAULT_CLASSES, inject_faults
    from python_tasks.sample_data.generate import GenerationSummary, generate
    from python_tasks.sample_data.presets import PRESETS

__all__ = ["FAULT_CLASSES", "PRESETS", "GenerationSummary", "generate", "inject_faults"]

_WHERE = {
    "FAULT_CLASSES": "python_tasks.sample_data.faults",
    "inject_faults": "python_tasks.sample_data.faults",
    "GenerationSummary": "python_tasks.sample_data.generate",
    "generate": "python_tasks.sample_data.generate",
    "PRESETS": "python_tasks.sample_data.presets",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
