"""The sources the DAGs ingest, read cheaply from the raw contracts.

The DAG processor parses the DAG files every few seconds, so this module reads only what the DAGs need
(name, delivery format, foreign-key targets) with pyyaml, without the pydantic contract model. The full
loader, ``python_tasks.contracts.load_contracts``, validates everything else; a test asserts that both
agree on names, formats and dependency order.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from python_tasks.dependencies import dependency_order
from python_tasks.settings import CONTRACTS_DIR

RAW_CONTRACTS_DIR = CONTRACTS_DIR / "raw"

#: Delivery format of the sources fetched from an external API on their own (monthly) cadence.
EXTERNAL_FORMAT = "api"


@dataclass(frozen=True)
class SourceInfo:
    """What orchestration needs to know about one source."""

    name: str
    delivery_format: str
    references: tuple[str, ...]

    @property
    def is_external(self) -> bool:
        return self.delivery_format == EXTERNAL_FORMAT


@cache
def read_sources(directory: Path = RAW_CONTRACTS_DIR) -> dict[str, SourceInfo]:
    """Sources by name in dependency order: a referenced source comes before the sources referring to it.

    Ties are broken by name, so the order (and the DAG built from it) is the same on every parse.
    """
    found: dict[str, SourceInfo] = {}
    for path in sorted(directory.glob("*.yml")):
        with path.open(encoding="utf-8") as fh:
            raw = yaml.safe_load(fh) or {}
        name = raw.get("name")
        delivery_format = (raw.get("delivery") or {}).get("format")
        if name != path.stem or not delivery_format:
            raise ValueError(f"contract {path}: needs name: {path.stem} and delivery.format")
        references = tuple(
            dict.fromkeys(fk["references"] for fk in raw.get("foreign_keys") or [] if fk["references"] != name)
        )
        found[name] = SourceInfo(name=name, delivery_format=delivery_format, references=references)
    for info in found.values():
        unknown = [ref for ref in info.references if ref not in found]
        if unknown:
            raise ValueError(f"contract {info.name}: foreign key references unknown source(s) {unknown}")
    return {name: found[name] for name in dependency_order({n: i.references for n, i in found.items()})}


def internal_sources() -> list[str]:
    """Sources delivered daily by the bank's own systems (files in the inbox), in dependency order."""
    return [name for name, info in read_sources().items() if not info.is_external]


def external_sources() -> list[str]:
    """Sources fetched from external APIs on their own cadence, in dependency order."""
    return [name for name, info in read_sources().items() if info.is_external]


def upstream_sources(name: str) -> list[str]:
    """The sources ``name`` references by foreign key (never itself), in dependency order.

    A referencing source loads after its targets so that the loader can check keys against them.
    """
    sources = read_sources()
    if name not in sources:
        raise KeyError(f"unknown source {name!r}; known sources: {', '.join(sorted(sources))}")
    referenced = set(sources[name].references)
    return [other for other in sources if other in referenced]
