"""Versioned, approved parameter files: what the CLV engine and the segmentation rules share.

A model's parameters live in one YAML with a version and an approval block; a bad value fails with a
message naming the field, and production mode refuses a version that has not been approved (a parameter
change is a model change and gets human review, as the bank's model governance requires).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator


class ParamsError(ValueError):
    """The parameter file is missing, unreadable, invalid, or not approved for production."""


class Approval(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    status: Literal["draft", "approved"]
    approved_by: str | None = None
    approved_at: date | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _approved_means_signed(self) -> Approval:
        if self.status == "approved" and not (self.approved_by and self.approved_at):
            raise ValueError("an approved version needs approved_by and approved_at")
        return self


Model = TypeVar("Model", bound=BaseModel)


def load_versioned(path: Path, model: type[Model], *, what: str, mode: str = "demo") -> Model:
    """Read and validate ``path`` as ``model`` (which has ``version`` and ``approval``); in production
    mode the version must be approved. Errors name the file and each invalid field."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ParamsError(f"{path}: cannot read the {what}: {exc}") from exc
    try:
        params = model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(file)'}: {err['msg']}" for err in exc.errors()
        )
        raise ParamsError(f"{path}: invalid {what}: {problems}") from exc
    approval: Approval = params.approval  # type: ignore[attr-defined]
    if mode == "production" and approval.status != "approved":
        raise ParamsError(
            f"{path}: parameter version {params.version} is {approval.status}, not approved: "  # type: ignore[attr-defined]
            "production runs only approved parameters"
        )
    return params
