"""Read the contract YAML files and order the sources so referenced tables load first."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from python_tasks.contracts.model import Contract
from python_tasks.dependencies import dependency_order
from python_tasks.settings import CONTRACTS_DIR

RAW_CONTRACTS_DIR = CONTRACTS_DIR / "raw"


@cache
def load_contracts(directory: Path = RAW_CONTRACTS_DIR) -> dict[str, Contract]:
    """All contracts in ``directory`` by name; a broken or inconsistent contract fails loudly."""
    contracts: dict[str, Contract] = {}
    for path in sorted(directory.glob("*.yml")):
        with path.open(encoding="utf-8") as fh:
            raw = yaml.safe_load(fh)
        try:
            contract = Contract.model_validate(raw)
        except ValueError as exc:
            raise ValueError(f"contract {path}: {exc}") from exc
        if contract.name != path.stem:
            raise ValueError(f"contract {path}: name {contract.name!r} differs from the file name")
        contracts[contract.name] = contract
    for contract in contracts.values():
        for fk in contract.foreign_keys:
            target = contracts.get(fk.references)
            if target is None:
                raise ValueError(f"{contract.name}: foreign key references unknown source {fk.references!r}")
            if len(fk.columns) != len(target.primary_key):
                raise ValueError(f"{contract.name}: foreign key {fk.columns} does not match {target.name}'s key")
        for col in contract.columns:
            if col.not_before and "." in col.not_before:
                source, _, column = col.not_before.partition(".")
                if source not in contracts or column not in contracts[source].column_names:
                    raise ValueError(f"{contract.name}.{col.name}: not_before names unknown {col.not_before!r}")
                if not any(fk.references == source for fk in contract.foreign_keys):
                    raise ValueError(f"{contract.name}.{col.name}: no foreign key leads to {source!r}")
    return contracts


def load_contract(name: str) -> Contract:
    contracts = load_contracts()
    if name not in contracts:
        raise KeyError(f"unknown source {name!r}; known sources: {', '.join(sorted(contracts))}")
    return contracts[name]


def load_order(contracts: dict[str, Contract] | None = None) -> list[str]:
    """Source names in dependency order (a referenced source before the sources referring to it)."""
    contracts = contracts if contracts is not None else load_contracts()
    return dependency_order({name: [fk.references for fk in c.foreign_keys] for name, c in contracts.items()})
