"""Validate OpenLineage events against the JSON schemas in ``contracts/openlineage`` (no network).

The run-event schema (OpenLineage.json) checks an event's shape and that every facet is a facet; each
facet is then checked against the schema its ``_schemaURL`` names, which must be one of the files in
``contracts/openlineage`` (the specification's facets) or ``contracts/openlineage/custom`` (ours). Every
``$ref`` resolves from those files.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from python_tasks.settings import CONTRACTS_DIR

SCHEMA_DIR = CONTRACTS_DIR / "openlineage"
RUN_EVENT_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json"


class InvalidLineageEvent(ValueError):
    """An event does not validate; the message names the job, the path in the event and the rule."""


@cache
def _registry():  # noqa: ANN202 - referencing.Registry
    from referencing import Registry, Resource

    resources = []
    for path in sorted(SCHEMA_DIR.glob("*.json")) + sorted((SCHEMA_DIR / "custom").glob("*.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resources.append((contents["$id"], Resource.from_contents(contents)))
    return Registry().with_resources(resources)


def schema_ids() -> set[str]:
    """The ``$id`` of every schema available locally."""
    return {uri for uri in _registry()}


@cache
def _validator(ref: str):  # noqa: ANN202 - a jsonschema validator for the schema at ``ref``
    from jsonschema import Draft202012Validator

    return Draft202012Validator({"$ref": ref}, registry=_registry(), format_checker=Draft202012Validator.FORMAT_CHECKER)


def _facets(event: dict) -> Iterable[tuple[str, dict]]:
    """(path, facet) for every facet of an event."""
    for key, facet in ((event.get("run") or {}).get("facets") or {}).items():
        yield f"run.facets.{key}", facet
    for key, facet in ((event.get("job") or {}).get("facets") or {}).items():
        yield f"job.facets.{key}", facet
    for side, extra in (("inputs", "inputFacets"), ("outputs", "outputFacets")):
        for i, dataset in enumerate(event.get(side) or []):
            for group in ("facets", extra):
                for key, facet in (dataset.get(group) or {}).items():
                    yield f"{side}[{i}].{group}.{key}", facet


def errors(event: dict) -> list[str]:
    """Every schema violation of one event (empty when valid)."""
    found = [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(event)'}: {e.message}"
        for e in _validator(RUN_EVENT_SCHEMA).iter_errors(event)
    ]
    known = schema_ids()
    for path, facet in _facets(event):
        url = facet.get("_schemaURL", "") if isinstance(facet, dict) else ""
        if url.split("#", 1)[0] not in known:
            found.append(f"{path}: schema {url!r} is not in {SCHEMA_DIR}")
            continue
        found += [f"{path}/{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
                  for e in _validator(url).iter_errors(facet)]  # fmt: skip
    return found


def validate_events(events: Iterable[dict]) -> int:
    """Raise :class:`InvalidLineageEvent` on the first invalid event; return how many were checked."""
    count = 0
    for event in events:
        problems = errors(event)
        if problems:
            job = (event.get("job") or {}).get("name")
            raise InvalidLineageEvent(
                f"lineage event of {job} ({event.get('eventType')}) is invalid:\n" + "\n".join(problems[:20])
            )
        count += 1
    return count


def read_events(path: Path) -> list[dict]:
    """The events of a run's ndjson file."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
