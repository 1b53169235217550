"""The shape of a source contract: the single definition of a boundary table.

The loader's DDL and casts, the row rules that quarantine bad rows, the GX suite and dbt's source
documentation are all rendered from these objects; nothing else lists a source's columns.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

PiiClass = Literal["public", "internal", "personal"]
Kind = Literal["master", "event"]
Format = Literal["csv", "parquet", "json", "api"]
CodeFormat = Literal["uscc", "industry_code", "industry_section", "region_code"]

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
_TYPE = re.compile(r"^(VARCHAR|BIGINT|INTEGER|DOUBLE|BOOLEAN|DATE|TIMESTAMP|DECIMAL\(\d{1,2},\d{1,2}\))$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Column(_Strict):
    """One column: its type, what may be in it, and how sensitive it is."""

    name: str
    type: str
    description: str
    nullable: bool = True
    pii: PiiClass
    required: bool = Field(True, description="False: the column may be absent from a delivery (loaded as null).")
    allowed_values: list[str] | None = None
    min: float | date | None = None
    max: float | date | None = None
    pattern: str | None = None
    format: CodeFormat | None = None
    not_after_business_date: bool = False
    not_before: str | None = Field(
        None,
        description="A column this one may not precede: of the same row (founded_date) or of the row a "
        "foreign key points to (clients.founded_date).",
    )

    @model_validator(mode="after")
    def _check(self) -> Column:
        if not _IDENTIFIER.match(self.name):
            raise ValueError(f"column name {self.name!r} is not a snake_case identifier")
        if not _TYPE.match(self.type):
            raise ValueError(f"column {self.name}: unsupported type {self.type!r}")
        if self.pattern is not None:
            re.compile(self.pattern)
        return self

    @property
    def is_numeric(self) -> bool:
        return self.type in ("BIGINT", "INTEGER", "DOUBLE") or self.type.startswith("DECIMAL")


class ForeignKey(_Strict):
    columns: list[str]
    references: str = Field(description="Name of the referenced source; its primary key is the target.")


class RowRule(_Strict):
    """A business rule over several columns of one row, as a SQL boolean expression on typed columns."""

    name: str
    description: str
    sql: str


class Delivery(_Strict):
    format: Format
    encoding: Literal["utf-8", "gbk"] = "utf-8"
    delimiter: str = ","


class Contract(_Strict):
    """A source table's contract (one YAML file in ``contracts/raw``)."""

    name: str
    description: str
    system: str
    kind: Kind = Field(description="master: latest delivery of a key wins; event: a key is delivered once.")
    delivery: Delivery
    primary_key: list[str]
    foreign_keys: list[ForeignKey] = []
    columns: list[Column]
    row_rules: list[RowRule] = []

    @model_validator(mode="after")
    def _check(self) -> Contract:
        if not _IDENTIFIER.match(self.name):
            raise ValueError(f"contract name {self.name!r} is not a snake_case identifier")
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: duplicate column names")
        known = set(names)
        for key in self.primary_key:
            if key not in known:
                raise ValueError(f"{self.name}: primary key column {key!r} is not declared")
            if self.column(key).nullable:
                raise ValueError(f"{self.name}: primary key column {key!r} must be non-nullable")
        for fk in self.foreign_keys:
            for col in fk.columns:
                if col not in known:
                    raise ValueError(f"{self.name}: foreign key column {col!r} is not declared")
        for col in self.columns:
            if col.not_before and "." not in col.not_before and col.not_before not in known:
                raise ValueError(f"{self.name}.{col.name}: not_before names unknown column {col.not_before!r}")
        return self

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def file_extension(self) -> str:
        return {"csv": "csv", "parquet": "parquet", "json": "json", "api": "json"}[self.delivery.format]
