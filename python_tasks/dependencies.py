"""Order sources so that a referenced source comes before the sources referring to it.

Standard library only: the DAG files use it at parse time (through ``orchestration.sources``), the
contract loader (``contracts.load_order``) too, so both always agree on the order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def dependency_order(references: Mapping[str, Iterable[str]]) -> list[str]:
    """Depth-first over the references, names visited alphabetically, so the order is the same every time.

    Self-references are ignored; a cycle raises ``ValueError`` naming a source on it.
    """
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered:
            return
        if name in visiting:
            raise ValueError(f"foreign keys form a cycle through {name}")
        visiting.add(name)
        for ref in references[name]:
            if ref != name:
                visit(ref)
        visiting.discard(name)
        ordered.append(name)

    for name in sorted(references):
        visit(name)
    return ordered
