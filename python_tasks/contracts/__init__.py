"""Source contracts: load them once, render DDL, rules and documentation from them."""

from python_tasks.contracts.loader import load_contract, load_contracts, load_order
from python_tasks.contracts.model import Column, Contract

__all__ = ["Column", "Contract", "load_contract", "load_contracts", "load_order"]
