"""Compile a contract into row rules: SQL predicates that say why a delivered row cannot be loaded.

Pure: no connection here, only SQL text. The loader (``load.py``) runs the passes below in order: type the
delivery (1), check keys (2), find suspect rows on typed columns (3), judge the suspects on their delivered
text (4a, 4b), write the good rows (5). A row that fails any rule goes to quarantine with every rule it
failed. Rule names are stable (``type:<column>``,
``not_null:<column>``, ``unique:<key>``, ``foreign_key:<column>`` …): tests, the quarantine table and the
data-quality reports use them.

Inside predicates, ``"<column>"`` is the typed value and ``"_raw_<column>"`` the delivered text (trimmed,
empty → NULL). ``$as_of_date`` is the business date, bound as a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass

from python_tasks.codes import industry, region
from python_tasks.contracts.model import Column, Contract
from python_tasks.contracts.render import quote_identifier as q


@dataclass(frozen=True)
class Rule:
    name: str
    column: str | None
    fails: str  # SQL boolean: true when the row breaks the rule
    reason: str  # SQL string expression explaining the failure for a person
    #: The same test on typed columns alone (a loaded partition), when it differs from ``fails``; for a
    #: type rule there is none: the loader marks rows with a failed cast when it inserts them.
    fails_typed: str | None = "same"

    @property
    def typed_predicate(self) -> str | None:
        return self.fails if self.fails_typed == "same" else self.fails_typed


def sql_literal(value: object) -> str:
    """A SQL literal for a value that comes from a contract (trusted configuration, never from a file)."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def raw(column: str) -> str:
    return q(f"_raw_{column}")


def _shown(column: str) -> str:
    """The delivered value, quoted and shortened, for messages."""
    return f"'''' || left({raw(column)}, 60) || ''''"


def _text(message: str) -> str:
    return sql_literal(message)


def _in_list(values: list[str]) -> str:
    return "(" + ", ".join(sql_literal(v) for v in values) + ")"


def _format_rule(col: Column) -> Rule:
    c = q(col.name)
    if col.format == "uscc":
        fails = f"{c} IS NOT NULL AND NOT uscc_is_valid({c})"
        what = "is not a valid unified social credit code (GB 32100-2015 format or check character)"
    elif col.format == "industry_code":
        pairs = industry.valid_section_division_pairs()
        fails = (
            f"{c} IS NOT NULL AND NOT (regexp_full_match({c}, {sql_literal(industry.INDUSTRY_CODE_PATTERN[1:-1])})"
            f" AND left({c}, 3) IN {_in_list(pairs)})"
        )
        what = "is not a GB/T 4754-2017 industry code (section letter + division of that section)"
    elif col.format == "industry_section":
        fails = f"{c} IS NOT NULL AND {c} NOT IN {_in_list(sorted(industry.sections()))}"
        what = "is not a GB/T 4754-2017 section letter"
    elif col.format == "region_code":
        fails = f"{c} IS NOT NULL AND {c} NOT IN {_in_list(sorted(region.regions()))}"
        what = "is not a known GB/T 2260 region code"
    else:  # pragma: no cover - the contract model admits no other value
        raise ValueError(f"unknown format {col.format!r}")
    return Rule(
        f"format:{col.name}",
        col.name,
        fails,
        f"{_text(col.name + ' ')} || {_shown(col.name)} || {_text(' ' + what)}",
    )


def column_rules(col: Column) -> list[Rule]:
    """Rules a single column's value must satisfy, most basic first."""
    c, name = q(col.name), col.name
    rules = [
        Rule(
            f"type:{name}",
            name,
            f"{raw(name)} IS NOT NULL AND {c} IS NULL",
            f"{_text(name + ' ')} || {_shown(name)} || {_text(' is not a valid ' + col.type)}",
            fails_typed=None,
        )
    ]
    if not col.nullable:
        rules.append(Rule(f"not_null:{name}", name, f"{raw(name)} IS NULL", _text(f"{name} is empty"), f"{c} IS NULL"))
    if col.allowed_values is not None:
        rules.append(
            Rule(
                f"allowed_values:{name}",
                name,
                f"{c} IS NOT NULL AND {c} NOT IN {_in_list(col.allowed_values)}",
                f"{_text(name + ' ')} || {_shown(name)} || {_text(' is not one of ' + ', '.join(col.allowed_values))}",
            )
        )
    bounds = []
    if col.min is not None:
        bounds.append(f"{c} < {_bound(col, col.min)}")
    if col.max is not None:
        bounds.append(f"{c} > {_bound(col, col.max)}")
    if bounds:
        rng = f"[{col.min if col.min is not None else '-inf'}, {col.max if col.max is not None else 'inf'}]"
        rules.append(
            Rule(
                f"range:{name}",
                name,
                f"{c} IS NOT NULL AND ({' OR '.join(bounds)})",
                f"{_text(name + ' ')} || {_shown(name)} || {_text(' is outside ' + rng)}",
            )
        )
    if col.pattern is not None:
        rules.append(
            Rule(
                f"pattern:{name}",
                name,
                f"{c} IS NOT NULL AND NOT regexp_full_match({c}, {sql_literal(col.pattern)})",
                f"{_text(name + ' ')} || {_shown(name)} || {_text(' does not match ' + col.pattern)}",
            )
        )
    if col.format is not None:
        rules.append(_format_rule(col))
    if col.not_after_business_date:
        rules.append(
            Rule(
                f"not_after_business_date:{name}",
                name,
                f"{c} > $as_of_date",
                f"{_text(name + ' ')} || {_shown(name)} || {_text(' is after the business date ')} "
                f"|| strftime($as_of_date, '%Y-%m-%d')",
            )
        )
    if col.not_before is not None:
        other = reference_column(col.not_before)
        rules.append(
            Rule(
                f"not_before:{name}",
                name,
                f"{c} < {q(other)}",
                f"{_text(name + ' ')} || {_shown(name)} || {_text(' is before ' + col.not_before + ' ')} "
                f"|| strftime({q(other)}, '%Y-%m-%d')",
            )
        )
    return rules


def _bound(col: Column, value: object) -> str:
    if col.type == "DATE":
        return f"DATE {sql_literal(str(value))}"
    return sql_literal(value)


def reference_column(not_before: str) -> str:
    """Name of the helper column holding ``source.column`` joined through a foreign key."""
    if "." in not_before:
        source, _, column = not_before.partition(".")
        return f"_ref_{source}_{column}"
    return not_before


def key_label(contract: Contract) -> str:
    return "+".join(contract.primary_key)


def table_rules(contract: Contract) -> list[Rule]:
    """Rules over the whole delivery and the warehouse: keys, references, multi-column business rules."""
    key = key_label(contract)
    key_shown = " || '/' || ".join(_shown(k) for k in contract.primary_key)
    rules = [
        Rule(
            f"unique:{key}",
            contract.primary_key[0],
            "_is_repeat",
            f"{_text(key + ' ')} || {key_shown} || {_text(' repeats a key of this delivery (first at ')} "
            f"|| _first_seen || ')'",
        )
    ]
    if contract.kind == "event":
        rules.append(
            Rule(
                f"unique_across_deliveries:{key}",
                contract.primary_key[0],
                "_loaded_before IS NOT NULL",
                f"{_text(key + ' ')} || {key_shown} || {_text(' was already delivered for ')} "
                f"|| strftime(_loaded_before, '%Y-%m-%d')",
            )
        )
    for i, fk in enumerate(contract.foreign_keys):
        col = fk.columns[0]
        rules.append(
            Rule(
                f"foreign_key:{col}",
                col,
                " AND ".join(f"{q(c)} IS NOT NULL" for c in fk.columns) + f" AND _fk_{i}_missing",
                f"{_text(col + ' ')} || {_shown(col)} || {_text(' has no match in ' + fk.references)}",
            )
        )
    for rule in contract.row_rules:
        rules.append(
            Rule(
                f"row_rule:{rule.name}",
                None,
                f"NOT coalesce(({rule.sql}), TRUE)",
                _text(f"row breaks rule: {rule.description}"),
            )
        )
    return rules


def all_rules(contract: Contract) -> list[Rule]:
    rules: list[Rule] = []
    for col in contract.columns:
        rules.extend(column_rules(col))
    rules.extend(table_rules(contract))
    return rules


def cleaned_rows(contract: Contract, staged_views: list[str], where: str = "") -> str:
    """The delivered rows with each text value trimmed and empty text as NULL (``_raw_<column>``)."""
    staged = " UNION ALL ".join(f"SELECT * FROM {q(v)}" for v in staged_views)
    cleaned = ", ".join(f"nullif(trim(s.{raw(c.name)}), '') AS {raw(c.name)}" for c in contract.columns)
    return f"SELECT s._source_file, s._row_number, {cleaned} FROM ({staged}) AS s {where}"


def typed_statement(contract: Contract, staged_views: list[str]) -> str:
    """Pass 1: every delivered row, typed, into the temp table ``_typed`` (the one read of the files).

    A value that does not cast becomes NULL and the row's ``_row_number`` is stored negated: the mark
    that it has a type error (such rows are always quarantined). The rules then run on these typed
    columns; only the rows that pass are written to the warehouse, so the raw table is written once and
    never has rows deleted again (a scattered delete makes DuckDB rewrite the whole partition on commit).
    Non-text columns keep their delivered text beside (``_raw_<column>``) for judging the suspects.
    """
    typed = ", ".join(f"TRY_CAST({raw(c.name)} AS {c.type}) AS {q(c.name)}" for c in contract.columns)
    cast_failed = (
        " OR ".join(
            f"({raw(c.name)} IS NOT NULL AND TRY_CAST({raw(c.name)} AS {c.type}) IS NULL)"
            for c in contract.columns
            if c.type != "VARCHAR"
        )
        or "FALSE"
    )
    texts = "".join(f", {raw(c.name)}" for c in contract.columns if c.type != "VARCHAR")
    return (
        f"CREATE OR REPLACE TEMP TABLE _typed AS SELECT {typed}, _source_file, "
        f"CASE WHEN {cast_failed} THEN -_row_number ELSE _row_number END AS _row_number{texts} "
        f"FROM ({cleaned_rows(contract, staged_views)})"
    )


def key_statements(contract: Contract) -> list[str]:
    """Pass 2, over the key columns of ``_typed``: keys repeated within the delivery, and (event
    sources) keys delivered on another date (only the delivery's keys are looked up)."""
    keys = contract.primary_key
    key_cols = ", ".join(q(k) for k in keys)
    not_null = " AND ".join(f"{q(k)} IS NOT NULL" for k in keys)
    # Repeated keys: grouped by a 64-bit hash first (several times faster than grouping the keys at 10 M
    # rows), then exactly among the few rows whose hash repeats, so a collision never flags a row.
    statements = [
        f"CREATE OR REPLACE TEMP TABLE _dups AS "
        f"WITH repeated AS (SELECT hash({key_cols}) AS _h FROM _typed WHERE {not_null} GROUP BY 1 HAVING count(*) > 1) "
        f"SELECT {key_cols}, min({{'f': _source_file, 'r': abs(_row_number)}}) AS _first FROM _typed "
        f"WHERE {not_null} AND hash({key_cols}) IN (SELECT _h FROM repeated) GROUP BY ALL HAVING count(*) > 1"
    ]
    if contract.kind == "event":
        statements.append(
            f"CREATE OR REPLACE TEMP TABLE _prev AS SELECT {key_cols}, min(_as_of_date) AS _loaded_before "
            f"FROM raw.{q(contract.name)} WHERE _as_of_date <> $as_of_date AND ({key_cols}) IN "
            f"(SELECT ({key_cols}) FROM _typed) GROUP BY ALL"
        )
    return statements


def load_statement(contract: Contract) -> str:
    """Pass 5: the rows of ``_typed`` that broke no rule into partition D. Expects ``$as_of_date,
    $run_id, $loaded_at``."""
    cols = ", ".join(f"t.{q(c)}" for c in contract.column_names)
    return (
        f"INSERT INTO raw.{q(contract.name)} SELECT {cols}, $as_of_date, t._source_file, t._row_number, $run_id, "
        "$loaded_at FROM _typed AS t ANTI JOIN _bad AS b ON t._source_file = b._source_file "
        "AND t._row_number = b._row_number WHERE t._row_number > 0"
    )


def _reference_joins(contract: Contract, alias: str) -> tuple[list[str], list[str]]:
    """Joins (and the helper columns they add) for the rules that need more than the row itself."""
    from python_tasks.contracts import load_contracts  # local: rules stay importable without the registry

    registry = load_contracts()
    keys = contract.primary_key
    joins = [f"LEFT JOIN _dups AS dup ON {' AND '.join(f'{alias}.{q(k)} = dup.{q(k)}' for k in keys)}"]
    extra = [
        f"dup._first IS NOT NULL AND NOT ({alias}._source_file = dup._first.f AND abs({alias}._row_number) = dup._first.r) "
        "AS _is_repeat",
        "dup._first.f || ' row ' || dup._first.r AS _first_seen",
    ]
    if contract.kind == "event":
        joins.append(f"LEFT JOIN _prev AS prev ON {' AND '.join(f'{alias}.{q(k)} = prev.{q(k)}' for k in keys)}")
        extra.append("prev._loaded_before")
    for i, fk in enumerate(contract.foreign_keys):
        target = registry[fk.references]
        on = " AND ".join(
            f"{alias}.{q(c)} = fk_{i}.{q(t)}" for c, t in zip(fk.columns, target.primary_key, strict=True)
        )
        target_keys = ", ".join(q(t) for t in target.primary_key)
        joins.append(
            f"LEFT JOIN (SELECT DISTINCT {target_keys}, TRUE AS _found FROM raw.{q(target.name)} "
            f"WHERE _as_of_date <= $as_of_date) AS fk_{i} ON {on}"
        )
        extra.append(f"fk_{i}._found IS NULL AS _fk_{i}_missing")
    for j, col in enumerate(c for c in contract.columns if c.not_before and "." in c.not_before):
        source, _, other = col.not_before.partition(".")
        fk = next(f for f in contract.foreign_keys if f.references == source)
        target = registry[source]
        on = " AND ".join(
            f"{alias}.{q(c)} = ref_{j}.{q(t)}" for c, t in zip(fk.columns, target.primary_key, strict=True)
        )
        target_keys = ", ".join(q(t) for t in target.primary_key)
        joins.append(
            f"LEFT JOIN (SELECT {target_keys}, arg_max({q(other)}, _as_of_date) AS _v FROM raw.{q(source)} "
            f"WHERE _as_of_date <= $as_of_date GROUP BY ALL) AS ref_{j} ON {on}"
        )
        extra.append(f"ref_{j}._v AS {q(reference_column(col.not_before))}")
    return joins, extra


def suspects_query(contract: Contract) -> str:
    """Pass 3: the rows of ``_typed`` that may break a rule, judged on the typed columns alone.

    A superset of the bad rows: every rule but the type rules has a typed form, and rows with a failed
    cast carry a negative ``_row_number``. Expects ``$as_of_date`` when a rule uses it.
    """
    joins, extra = _reference_joins(contract, "typed")
    predicates = " OR ".join(f"({r.typed_predicate}) IS TRUE" for r in all_rules(contract) if r.typed_predicate)
    return f"""
CREATE OR REPLACE TEMP TABLE _suspects AS
WITH typed AS (SELECT * FROM _typed),
joined AS (SELECT typed.*, {", ".join(extra)} FROM typed {" ".join(joins)})
SELECT _source_file, abs(_row_number) AS _row_number FROM joined WHERE _row_number < 0 OR {predicates}
"""


def suspect_rows_statement(contract: Contract) -> str:
    """Pass 4a: the delivered text of the suspect rows, from ``_typed`` (text columns are their own text;
    the others keep their delivered text there), into ``_suspect_rows``."""
    cols = ", ".join(
        f"t.{q(c.name)} AS {raw(c.name)}" if c.type == "VARCHAR" else f"t.{raw(c.name)}" for c in contract.columns
    )
    return (
        f"CREATE OR REPLACE TEMP TABLE _suspect_rows AS SELECT t._source_file, abs(t._row_number) AS _row_number, "
        f"{cols} FROM _typed AS t SEMI JOIN _suspects AS x ON t._source_file = x._source_file "
        "AND abs(t._row_number) = x._row_number"
    )


def check_query(contract: Contract) -> str:
    """Pass 4b: SQL creating temp table ``_bad``, the suspect rows that break a rule, with every rule
    broken and a reason for each, judged on the delivered text (type errors, the quarantine record).
    Expects ``$as_of_date`` when a rule uses it.
    """
    cols = contract.columns
    typed_cols = ", ".join(f"TRY_CAST({raw(c.name)} AS {c.type}) AS {q(c.name)}" for c in cols)
    joins, extra = _reference_joins(contract, "typed")
    rules = all_rules(contract)
    is_bad = " OR ".join(f"({r.fails}) IS TRUE" for r in rules)
    names = ", ".join(f"CASE WHEN ({r.fails}) IS TRUE THEN {sql_literal(r.name)} END" for r in rules)
    reasons = ", ".join(
        f"CASE WHEN ({r.fails}) IS TRUE THEN {sql_literal(r.name + ': ')} || ({r.reason}) END" for r in rules
    )
    record = ", ".join(f"{sql_literal(c.name)}: {raw(c.name)}" for c in cols)
    return f"""
CREATE OR REPLACE TEMP TABLE _bad AS
WITH typed AS (SELECT suspect.*, {typed_cols} FROM _suspect_rows AS suspect),
joined AS (SELECT typed.*, {", ".join(extra)} FROM typed {" ".join(joins)})
SELECT _source_file, _row_number,
       list_filter([{names}], lambda x: x IS NOT NULL) AS _failed_rules,
       list_filter([{reasons}], lambda x: x IS NOT NULL) AS _reasons,
       to_json({{{record}}}) AS _raw_record
FROM joined
WHERE {is_bad}
"""
