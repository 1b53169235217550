"""Column-level lineage of one SELECT statement, from DuckDB's own parse tree.

Why DuckDB's parser: the models run on DuckDB, so its parser reads exactly the dialect they are written
in (``group by all``, ``count(*) filter (where …)``, ``exclude``/``replace`` stars, ``qualify``), and it is
always installed. sqlglot is not a dependency of this project; openlineage-sql (installed with the
OpenLineage provider) neither expands ``select *`` nor follows a column through CTEs, and every model here
starts with ``select * from`` import CTEs. ``json_serialize_sql`` returns the parse tree as JSON; this
module walks it with the warehouse's catalogue at hand to expand stars.

What it gives, per output column: the base-table columns it is computed from (*direct*: identity,
transformation or aggregation) and those that only decide which rows or which branch (*indirect*: join
keys, filters, grouping, window partitions and orders, CASE conditions), plus the dataset-wide indirect
columns (joins, filters, grouping) of the whole statement. That is the shape of OpenLineage's
ColumnLineageDatasetFacet.

Limits (docs/lineage.md): a column read through a table function (``range``, ``unnest``, ``read_csv``)
or a struct field traces to the function's arguments or the struct column, not further; ``COLUMNS(...)``
stars with a lambda take every column; a name the parser cannot bind (a typo DuckDB would reject) is
reported in ``unresolved`` rather than guessed. Pure apart from the ``parse`` callable, which the caller
provides (a DuckDB connection's ``json_serialize_sql``), so this module opens nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

#: (schema, table, column), lower case
Source = tuple[str, str, str]
#: (type, subtype): ("DIRECT", "IDENTITY" | "TRANSFORMATION" | "AGGREGATION") or
#: ("INDIRECT", "JOIN" | "FILTER" | "GROUP_BY" | "SORT" | "WINDOW" | "CONDITIONAL")
Tag = tuple[str, str]
Lineage = dict[Source, set[Tag]]

IDENTITY: Tag = ("DIRECT", "IDENTITY")
TRANSFORMATION: Tag = ("DIRECT", "TRANSFORMATION")
AGGREGATION: Tag = ("DIRECT", "AGGREGATION")
_DIRECT_RANK = {"IDENTITY": 0, "TRANSFORMATION": 1, "AGGREGATION": 2}

#: aggregate functions (DuckDB's own list is passed in by the caller when it has one)
DEFAULT_AGGREGATES = frozenset({
    "sum", "count", "count_star", "min", "max", "avg", "mean", "any_value", "first", "last", "arg_max",
    "arg_min", "max_by", "min_by", "bool_or", "bool_and", "string_agg", "list", "array_agg", "median",
    "quantile_cont", "quantile_disc", "stddev", "stddev_samp", "stddev_pop", "variance", "var_samp",
    "var_pop", "product", "fsum", "sumkahan", "bit_or", "bit_and", "histogram", "mode", "approx_count_distinct",
    "countif", "sum_no_overflow", "corr", "covar_pop", "covar_samp", "regr_slope", "geomean", "entropy",
})  # fmt: skip


class SqlLineageError(ValueError):
    """The statement cannot be parsed; the message carries DuckDB's."""


@dataclass
class Relation:
    """The columns of a relation in order, each with the base columns it comes from."""

    columns: dict[str, Lineage]
    #: dataset-wide indirect inputs (joins, filters, grouping) of the statement that produced it
    indirect: Lineage = field(default_factory=dict)


@dataclass(frozen=True)
class StatementLineage:
    """Lineage of one statement's output columns (in select-list order)."""

    columns: dict[str, Lineage]
    indirect: Lineage
    tables: frozenset[tuple[str, str]]
    unresolved: tuple[str, ...]

    def direct_inputs(self, column: str) -> set[Source]:
        """Base columns ``column`` is computed from (identity, transformation, aggregation)."""
        return {s for s, tags in self.columns.get(column, {}).items() if any(t[0] == "DIRECT" for t in tags)}


def _combine(outer: Tag, inner: Tag) -> Tag:
    """The tag of a base column seen through a derived column: indirect wins, then the stronger direct."""
    if outer[0] == "INDIRECT":
        return outer
    if inner[0] == "INDIRECT":
        return inner
    return outer if _DIRECT_RANK[outer[1]] >= _DIRECT_RANK[inner[1]] else inner


def _merge(into: Lineage, other: Lineage, through: Tag | None = None) -> None:
    for source, tags in other.items():
        bucket = into.setdefault(source, set())
        bucket.update(tags if through is None else {_combine(through, t) for t in tags})


def _with(lineage: Lineage, tag: Tag) -> Lineage:
    out: Lineage = {}
    _merge(out, lineage, tag)
    return out


@dataclass
class _Scope:
    bindings: list[tuple[str, Relation]]
    ctes: Mapping[str, Relation]
    parent: _Scope | None = None
    #: aliases of the select list seen so far (DuckDB lets later expressions and clauses use them)
    aliases: dict[str, Lineage] = field(default_factory=dict)
    #: USING-join columns: shown once by a star
    using: set[str] = field(default_factory=set)


class _Analyser:
    def __init__(self, catalog: Mapping[tuple[str, str], Iterable[str]], aggregates: frozenset[str]) -> None:
        self.catalog = {(s.lower(), t.lower()): [c.lower() for c in cols] for (s, t), cols in catalog.items()}
        self.aggregates = aggregates
        self.tables: set[tuple[str, str]] = set()
        self.unresolved: list[str] = []

    # ------------------------------------------------------------------------------------------ nodes
    def query_node(self, node: dict, ctes: Mapping[str, Relation], parent: _Scope | None) -> Relation:
        ctes = self._ctes(node.get("cte_map") or {}, ctes, parent)
        kind = node.get("type")
        if kind == "SELECT_NODE":
            return self._select(node, ctes, parent)
        if kind == "SET_OPERATION_NODE":
            children = node.get("children") or [c for c in (node.get("left"), node.get("right")) if c]
            relations = [self.query_node(c, ctes, parent) for c in children]
            first = relations[0]
            names = list(first.columns)
            out = Relation({n: {} for n in names})
            for rel in relations:
                for name, lineage in zip(names, rel.columns.values(), strict=False):
                    _merge(out.columns[name], lineage)
                _merge(out.indirect, rel.indirect)
            return out
        if kind == "CTE_NODE":  # older serialisations
            return self.query_node(node["child"], ctes, parent)
        raise SqlLineageError(f"unsupported query node {kind}")

    def _ctes(self, cte_map: dict, outer: Mapping[str, Relation], parent: _Scope | None) -> Mapping[str, Relation]:
        entries = cte_map.get("map") or []
        if not entries:
            return outer
        scope = dict(outer)
        for entry in entries:
            name = entry["key"].lower()
            value = entry["value"]
            relation = self.query_node(value["query_node"], scope, parent)
            aliases = [a.lower() for a in value.get("aliases") or []]
            if aliases:
                relation = Relation(
                    {aliases[i] if i < len(aliases) else n: lin for i, (n, lin) in enumerate(relation.columns.items())},
                    relation.indirect,
                )
            scope[name] = relation
        return scope

    def _select(self, node: dict, ctes: Mapping[str, Relation], parent: _Scope | None) -> Relation:
        scope = _Scope([], ctes, parent)
        indirect: Lineage = {}
        if node.get("from_table"):
            self._from(node["from_table"], scope, indirect)
        columns: dict[str, Lineage] = {}
        grouped_all = node.get("aggregate_handling") == "FORCE_AGGREGATES"
        group_lineage: Lineage = {}
        for position, expr in enumerate(node.get("select_list") or []):
            if expr.get("class") == "STAR":
                for name, lineage in self._star(expr, scope):
                    columns[name] = lineage
                continue
            lineage = self.expression(expr, scope)
            name = self._name(expr, position)
            columns[name] = lineage
            scope.aliases[name] = lineage
            if grouped_all and not self._has_aggregate(expr):
                _merge(group_lineage, lineage)
        for key, tag in (("where_clause", "FILTER"), ("having", "FILTER"), ("qualify", "FILTER")):
            if node.get(key):
                _merge(indirect, self.expression(node[key], scope), ("INDIRECT", tag))
        for expr in node.get("group_expressions") or []:
            _merge(group_lineage, self.expression(expr, scope))
        _merge(indirect, group_lineage, ("INDIRECT", "GROUP_BY"))
        for modifier in node.get("modifiers") or []:
            for order in modifier.get("orders") or []:
                _merge(indirect, self.expression(order["expression"], scope), ("INDIRECT", "SORT"))
        for _, relation in scope.bindings:
            _merge(indirect, relation.indirect)
        return Relation(columns, indirect)

    def _from(self, ref: dict, scope: _Scope, indirect: Lineage) -> None:
        kind = ref.get("type")
        alias = (ref.get("alias") or "").lower()
        if kind == "BASE_TABLE":
            schema, table = (ref.get("schema_name") or "").lower(), ref["table_name"].lower()
            if not schema and table in scope.ctes:
                relation = scope.ctes[table]
            else:
                relation = self._base_table(schema, table)
            renamed = [c.lower() for c in ref.get("column_name_alias") or []]
            if renamed:
                items = list(relation.columns.items())
                relation = Relation(
                    {renamed[i] if i < len(renamed) else n: lin for i, (n, lin) in enumerate(items)}, relation.indirect
                )
            scope.bindings.append((alias or table, relation))
        elif kind == "SUBQUERY":
            relation = self.query_node(ref["subquery"]["node"], scope.ctes, scope.parent)
            renamed = [c.lower() for c in ref.get("column_name_alias") or []]
            if renamed:
                items = list(relation.columns.items())
                relation = Relation(
                    {renamed[i] if i < len(renamed) else n: lin for i, (n, lin) in enumerate(items)}, relation.indirect
                )
            scope.bindings.append((alias or f"_subquery{len(scope.bindings)}", relation))
        elif kind == "JOIN":
            self._from(ref["left"], scope, indirect)
            self._from(ref["right"], scope, indirect)
            if ref.get("condition"):
                _merge(indirect, self.expression(ref["condition"], scope), ("INDIRECT", "JOIN"))
            for name in ref.get("using_columns") or []:
                name = name.lower()
                scope.using.add(name)
                for _, relation in scope.bindings:
                    if name in relation.columns:
                        _merge(indirect, relation.columns[name], ("INDIRECT", "JOIN"))
        elif kind == "TABLE_FUNCTION":
            function = ref.get("function") or {}
            arguments: Lineage = {}
            for arg in self._arguments(function):
                _merge(arguments, self.expression(arg, scope), TRANSFORMATION)
            names = [c.lower() for c in ref.get("column_name_alias") or []] or [
                (function.get("function_name") or "table_function").lower()
            ]
            scope.bindings.append((alias or names[0], Relation({n: dict(arguments) for n in names})))
        elif kind in ("EMPTY", "EMPTY_FROM", None):
            return
        else:
            self.unresolved.append(f"table reference of type {kind}")

    def _base_table(self, schema: str, table: str) -> Relation:
        candidates = [k for k in self.catalog if k[1] == table and (not schema or k[0] == schema)]
        if not candidates:
            self.unresolved.append(f"{schema + '.' if schema else ''}{table}: not in the catalogue")
            return Relation({})
        key = candidates[0]
        self.tables.add(key)
        return Relation({c: {(key[0], key[1], c): {IDENTITY}} for c in self.catalog[key]})

    def _star(self, expr: dict, scope: _Scope) -> list[tuple[str, Lineage]]:
        qualifier = (expr.get("relation_name") or "").lower()
        bindings = [(n, r) for n, r in scope.bindings if not qualifier or n == qualifier]
        if qualifier and not bindings:
            self.unresolved.append(f"{qualifier}.*")
        exclude = {self._plain_name(e) for e in expr.get("exclude_list") or []}
        exclude |= {self._plain_name(e) for e in expr.get("qualified_exclude_list") or []}
        replace = {(r.get("key") or "").lower(): r["value"] for r in expr.get("replace_list") or []}
        rename = {self._plain_name(r.get("key")): (r.get("value") or "").lower() for r in expr.get("rename_list") or []}
        pattern = None
        if expr.get("columns") and expr.get("expr") and expr["expr"].get("class") == "CONSTANT":
            pattern = re.compile(str(expr["expr"]["literal"].get("text", "")), re.IGNORECASE)
        seen: set[str] = set()
        out = []
        for _, relation in bindings:
            for name, lineage in relation.columns.items():
                if name in exclude or (name in scope.using and name in seen) or (pattern and not pattern.search(name)):
                    continue
                seen.add(name)
                if name in replace:
                    lineage = self.expression(replace[name], scope)
                out.append((rename.get(name, name), lineage))
        return out

    @staticmethod
    def _plain_name(value: object) -> str:
        if isinstance(value, str):
            return value.lower()
        if isinstance(value, dict):
            for key in ("column_names", "path"):
                if value.get(key):
                    return str(value[key][-1]).lower()
            return str(value.get("name") or value.get("column_name") or "").lower()
        return str(value).lower()

    # ------------------------------------------------------------------------------------- expressions
    def expression(self, expr: dict | None, scope: _Scope) -> Lineage:
        """Base columns of an expression, tagged by the role they play in it."""
        if not expr:
            return {}
        top = TRANSFORMATION
        if expr.get("class") == "COLUMN_REF":
            top = IDENTITY
        elif self._has_aggregate(expr):
            top = AGGREGATION
        out: Lineage = {}
        self._walk(expr, scope, top, out)
        return out

    def _walk(self, expr: object, scope: _Scope, tag: Tag, out: Lineage) -> None:
        if isinstance(expr, list):
            for item in expr:
                self._walk(item, scope, tag, out)
            return
        if not isinstance(expr, dict):
            return
        cls = expr.get("class")
        if cls == "COLUMN_REF":
            _merge(out, self._column(expr["column_names"], scope), tag)
            return
        if cls == "STAR":  # count(*) and the like read no particular column
            return
        if cls == "SUBQUERY":
            relation = self.query_node(expr["subquery"]["node"], scope.ctes, scope)
            for lineage in relation.columns.values():
                _merge(out, lineage, tag)
            _merge(out, relation.indirect, ("INDIRECT", "FILTER"))
            if expr.get("child"):
                self._walk(expr["child"], scope, tag, out)
            return
        if cls == "CASE":
            for check in expr.get("case_checks") or []:
                self._walk(check.get("when_expr"), scope, ("INDIRECT", "CONDITIONAL"), out)
                self._walk(check.get("then_expr"), scope, tag, out)
            self._walk(expr.get("else_expr"), scope, tag, out)
            return
        if cls == "WINDOW":
            self._walk(expr.get("children"), scope, tag, out)
            for key in ("offset_expr", "default_expr", "start_expr", "end_expr"):
                self._walk(expr.get(key), scope, tag, out)
            self._walk(expr.get("partitions"), scope, ("INDIRECT", "WINDOW"), out)
            for order in expr.get("orders") or []:
                self._walk(order.get("expression"), scope, ("INDIRECT", "WINDOW"), out)
            self._walk(expr.get("filter_expr"), scope, ("INDIRECT", "FILTER"), out)
            return
        if cls == "FUNCTION":
            for arg in self._arguments(expr):
                self._walk(arg, scope, tag, out)
            self._walk(expr.get("filter"), scope, ("INDIRECT", "FILTER"), out)
            for order in (expr.get("order_bys") or {}).get("orders") or []:
                self._walk(order.get("expression"), scope, ("INDIRECT", "SORT"), out)
            return
        if cls == "LAMBDA":
            self._walk(expr.get("expr"), scope, tag, out)
            return
        for key, value in expr.items():
            if key in ("alias", "class", "type", "query_location", "query_location_length", "qualified_name"):
                continue
            if isinstance(value, (dict, list)):
                self._walk(value, scope, tag, out)

    @staticmethod
    def _arguments(function: dict) -> list:
        args = function.get("arguments")
        if args is not None:
            return [a.get("expression") if isinstance(a, dict) and "expression" in a else a for a in args]
        return function.get("children") or []

    def _has_aggregate(self, expr: object) -> bool:
        if isinstance(expr, list):
            return any(self._has_aggregate(e) for e in expr)
        if not isinstance(expr, dict):
            return False
        if expr.get("class") == "SUBQUERY" or expr.get("class") == "WINDOW":
            return False
        if expr.get("class") == "FUNCTION" and (expr.get("function_name") or "").lower() in self.aggregates:
            return True
        return any(self._has_aggregate(v) for k, v in expr.items() if isinstance(v, (dict, list)))

    def _column(self, names: list[str], scope: _Scope) -> Lineage:
        names = [n.lower() for n in names]
        current: _Scope | None = scope
        while current is not None:
            found = self._in_scope(names, current)
            if found is not None:
                return found
            current = current.parent
        self.unresolved.append(".".join(names))
        return {}

    @staticmethod
    def _in_scope(names: list[str], scope: _Scope) -> Lineage | None:
        if len(names) >= 2:
            for binding, relation in scope.bindings:
                if binding == names[0] and names[1] in relation.columns:
                    return relation.columns[names[1]]  # a.b (and a.b.field: the struct column b)
            for binding, relation in scope.bindings:  # schema.table.column
                if len(names) >= 3 and binding == names[1] and names[2] in relation.columns:
                    return relation.columns[names[2]]
        for _, relation in scope.bindings:
            if names[0] in relation.columns:  # b, or b.field of a struct column b
                return relation.columns[names[0]]
        if names[0] in scope.aliases:
            return scope.aliases[names[0]]
        return None

    @staticmethod
    def _name(expr: dict, position: int) -> str:
        if expr.get("alias"):
            return expr["alias"].lower()
        if expr.get("class") == "COLUMN_REF":
            return expr["column_names"][-1].lower()
        return f"_column{position}"


def analyse(
    sql: str,
    catalog: Mapping[tuple[str, str], Iterable[str]],
    parse: Callable[[str], str],
    aggregates: frozenset[str] = DEFAULT_AGGREGATES,
) -> StatementLineage:
    """Column lineage of ``sql`` (one SELECT) given the columns of every table it may read.

    ``parse`` returns DuckDB's ``json_serialize_sql`` of a statement; ``catalog`` maps (schema, table) to
    the table's columns in order (tables of any database; the database part of a name is ignored).
    """
    tree = json.loads(parse(sql))
    if tree.get("error"):
        raise SqlLineageError(f"{tree.get('error_type', 'parser')}: {tree.get('error_message', 'cannot parse')}")
    statements = tree.get("statements") or []
    if len(statements) != 1:
        raise SqlLineageError(f"expected one SELECT statement, found {len(statements)}")
    analyser = _Analyser(catalog, aggregates)
    relation = analyser.query_node(statements[0]["node"], {}, None)
    return StatementLineage(
        columns=relation.columns,
        indirect=relation.indirect,
        tables=frozenset(analyser.tables),
        unresolved=tuple(dict.fromkeys(analyser.unresolved)),
    )


def tables_read(sql: str, parse: Callable[[str], str]) -> list[tuple[str, str]]:
    """The (schema, table) names a statement reads, CTE names excluded, in order of appearance."""
    tree = json.loads(parse(sql))
    if tree.get("error"):
        raise SqlLineageError(tree.get("error_message", "cannot parse"))
    found: dict[tuple[str, str], None] = {}
    ctes: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for entry in (node.get("cte_map") or {}).get("map") or []:
                ctes.add(entry["key"].lower())
            if node.get("type") == "BASE_TABLE" and "table_name" in node:
                schema, table = (node.get("schema_name") or "").lower(), node["table_name"].lower()
                if schema or table not in ctes:
                    found[(schema, table)] = None
            for value in node.values():
                if isinstance(value, (dict, list)):
                    walk(value)

    walk(tree.get("statements") or [])
    return [k for k in found if k[0] or k[1] not in ctes]
