"""SOQL → SQLite: a lark grammar parses the query; the tree is checked against the schema and the user's
permissions and turned into one parameterised SELECT (relationship paths become LEFT JOINs, formula fields SQL
expressions), plus a row builder that nests parent objects the way Salesforce returns them."""

import datetime as dt
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from . import ids
from .clock import format_date, format_datetime, parse_datetime
from .errors import SFError
from .schema import TEXT_TYPES, Field, Schema, SObject
from .store import quote

if TYPE_CHECKING:
    from .permissions import Perms

_HERE = Path(__file__).parent
PARSER = Lark(
    # Tokens carry their line and column (for error messages); trees need none (propagating them costs a fifth of a
    # parse, and a long IN list is mostly tokens).
    (_HERE / "soql.grammar.lark").read_text(),
    parser="lalr",
    maybe_placeholders=False,
)
FORMULA_PARSER = Lark((_HERE / "formula.grammar.lark").read_text(), parser="lalr")
MAX_OFFSET = 2000

_NO_FIELD_TAIL = (
    "If you are attempting to use a custom field, be sure to append the '__c' after the custom field "
    "name. Please reference your WSDL or the describe call for the appropriate names."
)
_NO_TYPE_TAIL = (
    "If you are attempting to use a custom object, be sure to append the '__c' after the entity name. "
    "Please reference your WSDL or the describe call for the appropriate names."
)
_NO_REL_TAIL = (
    "If you are attempting to use a custom relationship, be sure to append the '__r' after the custom "
    "relationship name. Please reference your WSDL or the describe call for the appropriate names."
)


def _located(text: str, line: int, column: int, message: str) -> str:
    """Salesforce's error layout: the query line, a caret under the column, the position, then the message."""
    lines = text.split("\n")
    src = lines[line - 1] if 0 < line <= len(lines) else text
    return f"\n{src}\n{' ' * max(column - 1, 0)}^\nERROR at Row:{line}:Column:{column}\n{message}"


def parse(text: str) -> Tree:
    try:
        return PARSER.parse(text)
    except UnexpectedEOF:
        lines = text.split("\n")
        raise SFError(
            "MALFORMED_QUERY", _located(text, len(lines), len(lines[-1]) + 1, "unexpected token: '<EOF>'")
        ) from None
    except UnexpectedToken as e:
        tok = e.token
        shown = "<EOF>" if tok.type == "$END" else str(tok)
        line, col = (e.line, e.column) if e.line and e.line > 0 else (1, len(text) + 1)
        raise SFError("MALFORMED_QUERY", _located(text, line, col, f"unexpected token: '{shown}'")) from None
    except UnexpectedCharacters as e:
        raise SFError(
            "MALFORMED_QUERY", _located(text, e.line, e.column, f"unexpected token: '{text[e.pos_in_stream]}'")
        ) from None
    except UnexpectedInput as e:  # pragma: no cover - every lark error subclass is handled above
        raise SFError("MALFORMED_QUERY", str(e)) from None


@cache
def parse_formula(text: str) -> Tree:
    return FORMULA_PARSER.parse(text)


# -- output shape ----------------------------------------------------------------------------------------------------
PLAIN, BOOL, COMPOUND, NODE = 0, 1, 2, 3


@dataclass
class Node:
    """One object level of a result record: the root, or a parent reached through a relationship."""

    obj_name: str | None  # None for a polymorphic relationship: the type comes from the Id's key prefix
    id_index: int
    items: list = field(default_factory=list)  # (key, kind, payload)
    keys: dict = field(default_factory=dict)  # lower key -> item position, to merge paths into one node

    def child(self, key: str, make) -> "Node":
        pos = self.keys.get(key.lower())
        if pos is not None:
            return self.items[pos][2]
        node = make()
        self.keys[key.lower()] = len(self.items)
        self.items.append((key, NODE, node))
        return node

    def add(self, key: str, kind: int, payload) -> bool:
        if key.lower() in self.keys:
            return False
        self.keys[key.lower()] = len(self.items)
        self.items.append((key, kind, payload))
        return True


_COMPOUND_KEYS = {
    "Street": "street",
    "City": "city",
    "State": "state",
    "PostalCode": "postalCode",
    "Country": "country",
    "Latitude": "latitude",
    "Longitude": "longitude",
    "GeocodeAccuracy": "geocodeAccuracy",
}


@dataclass
class Compiled:
    obj: SObject
    sql: str
    params: list
    count_sql: str
    count_params: list
    root: Node
    is_count: bool
    limit: int | None
    offset: int
    columns: list[str]  # dotted output names, in select order (Bulk CSV headers)
    column_paths: list[tuple]  # per column: (index path through nodes)
    tooling: bool = False


class RecordBuilder:
    """Turns SQL rows into Salesforce records; ``prefix_types`` resolves polymorphic parents."""

    def __init__(self, compiled: Compiled, url_base: str, prefix_types: dict[str, str]):
        self.root = compiled.root
        self.url_base = url_base
        self.prefix_types = prefix_types

    def build(self, node: Node, row: tuple) -> dict | None:
        rid = row[node.id_index]
        if rid is None:
            return None
        typ = node.obj_name or self.prefix_types.get(rid[:3], "Name")
        rec = {"attributes": {"type": typ, "url": f"{self.url_base}{typ}/{rid}"}}
        for key, kind, payload in node.items:
            if kind == PLAIN:
                rec[key] = row[payload]
            elif kind == BOOL:
                v = row[payload]
                rec[key] = None if v is None else bool(v)
            elif kind == NODE:
                rec[key] = self.build(payload, row)
            else:
                parts = {k: row[i] for k, i in payload}
                rec[key] = parts if any(v is not None for v in parts.values()) else None
        return rec

    def records(self, rows: list[tuple]) -> list[dict]:
        build, root = self.build, self.root
        return [build(root, row) for row in rows]


def csv_row(compiled: Compiled, row: tuple) -> list:
    """Flat values for Bulk CSV output: booleans as true/false, nulls empty."""
    out = []
    for kind, idx in compiled.column_paths:
        v = row[idx]
        if v is None:
            out.append("")
        elif kind == BOOL:
            out.append("true" if v else "false")
        else:
            out.append(v)
    return out


# -- compiler --------------------------------------------------------------------------------------------------------
class Compiler:
    def __init__(
        self,
        text: str,
        schema: Schema,
        perms,
        *,
        query_all: bool,
        now: dt.datetime,
        tooling: bool = False,
        prefix: str = "",
    ):
        self.text = text
        self.prefix = prefix  # alias prefix, so a semi-join's tables never clash with the outer query's
        self.t0 = prefix + "t0"
        self.subqueries = 0
        self.schema = schema
        self.perms = perms
        self.query_all = query_all
        self.now = now
        self.tooling = tooling
        self.select: list[str] = []
        self.select_index: dict[str, int] = {}
        self.joins: list[str] = []
        self.join_aliases: dict[tuple, str] = {}
        self.params: list = []

    # errors
    def _error(self, code: str, token, message: str) -> SFError:
        line = getattr(token, "line", None) or 1
        col = getattr(token, "column", None) or 1
        return SFError(code, _located(self.text, line, col, message))

    def _col(self, expr: str) -> int:
        idx = self.select_index.get(expr)
        if idx is None:
            idx = len(self.select)
            self.select.append(expr)
            self.select_index[expr] = idx
        return idx

    def _join(self, key: tuple, target: SObject, from_alias: str, column: str) -> str:
        alias = self.join_aliases.get(key)
        if alias is None:
            alias = f"{self.prefix}t{len(self.join_aliases) + 1}"
            self.join_aliases[key] = alias
            self.joins.append(
                f'LEFT JOIN {quote(target.name)} AS {alias} ON {alias}."Id" = {from_alias}.{quote(column)}'
            )
        return alias

    def _check_object(self, o: SObject | None, token) -> SObject:
        if o is None or (self.perms is not None and not self.perms.can_read(o)):
            raise self._error("INVALID_TYPE", token, f"sObject type '{token}' is not supported. {_NO_TYPE_TAIL}")
        return o

    # paths
    def resolve(self, tokens: list[Token], check: bool = True) -> tuple[tuple, Field, list]:
        """Resolves a dotted path from the root. Returns (kind, expr_or_payload, field, nodes) where nodes is the
        list of relationship steps (key, target SObject or None, id_expr, poly_prefixes)."""
        names = [str(t) for t in tokens]
        obj, alias, key = self.root_obj, self.t0, ()
        if len(names) > 1 and names[0].lower() == obj.name.lower() and obj.relationships.get(names[0].lower()) is None:
            names, tokens = names[1:], tokens[1:]
        steps = []
        for i, rel in enumerate(names[:-1]):
            ref = obj.relationships.get(rel.lower())
            if ref is None or (check and self.perms is not None and not self.perms.can_read_field(obj, ref)):
                raise self._error(
                    "INVALID_FIELD", tokens[i], f"Didn't understand relationship '{rel}' in field path. {_NO_REL_TAIL}"
                )
            targets = [self.schema.get(t, self.tooling) for t in ref.reference_to]
            targets = [t for t in targets if t is not None]
            if not targets:
                raise self._error(
                    "INVALID_FIELD", tokens[i], f"Didn't understand relationship '{rel}' in field path. {_NO_REL_TAIL}"
                )
            key = (*key, ref.relationship_name.lower())
            if len(targets) > 1:
                return self._resolve_poly(ref, targets, alias, key, names[i + 1 :], tokens[i + 1 :], steps)
            target = targets[0]
            if check and self.perms is not None and not self.perms.can_read(target):
                raise self._error(
                    "INVALID_FIELD", tokens[i], f"Didn't understand relationship '{rel}' in field path. {_NO_REL_TAIL}"
                )
            alias = self._join(key, target, alias, ref.name)
            steps.append((ref.relationship_name, target, f'{alias}."Id"', None))
            obj = target
        fname = names[-1]
        f = obj.field(fname)
        if f is None or (check and self.perms is not None and not self.perms.can_read_field(obj, f)):
            raise self._error(
                "INVALID_FIELD", tokens[-1], f"No such column '{fname}' on entity '{obj.name}'. {_NO_FIELD_TAIL}"
            )
        return self._field_expr(obj, f, alias, key), f, steps

    def _resolve_poly(
        self,
        ref: Field,
        targets: list[SObject],
        alias: str,
        key: tuple,
        rest: list[str],
        tokens: list[Token],
        steps: list,
    ):
        if len(rest) != 1 or rest[0].lower() not in ("id", "name", "type"):
            raise self._error(
                "INVALID_FIELD", tokens[0], f"No such column '{rest[0]}' on entity 'Name'. {_NO_FIELD_TAIL}"
            )
        fk = f"{alias}.{quote(ref.name)}"
        prefixes = {t.key_prefix: t.name for t in targets}
        steps.append((ref.relationship_name, None, fk, prefixes))
        which = rest[0].lower()
        if which == "id":
            return (PLAIN, fk), Field("Id", "Id", "id"), steps
        if which == "type":
            cases = " ".join(f"WHEN '{p}' THEN '{n}'" for p, n in prefixes.items())
            return (PLAIN, f"CASE substr({fk}, 1, 3) {cases} END"), Field("Type", "Type", "picklist"), steps
        names = []
        for t in targets:
            name = t.name_field  # a case's name is its CaseNumber
            if name is None or not name.stored:
                continue
            a = self._join((*key, t.name.lower()), t, alias, ref.name)
            names.append(f"{a}.{quote(name.name)}")
        return (PLAIN, f"COALESCE({', '.join(names)})"), Field("Name", "Name", "string"), steps

    def _field_expr(self, obj: SObject, f: Field, alias: str, key: tuple):
        if f.calculated:
            expr = self._formula(obj, f, alias, key)
            return (BOOL if f.type == "boolean" else PLAIN, expr)
        if f.compound_of:
            return (COMPOUND, [(_compound_key(f, p), f"{alias}.{quote(p)}") for p in f.compound_of])
        return (BOOL if f.type == "boolean" else PLAIN, f"{alias}.{quote(f.name)}")

    # formulas
    def _formula(self, obj: SObject, f: Field, alias: str, key: tuple) -> str:
        return "(" + self._fx(parse_formula(f.formula), obj, alias, key) + ")"

    def _fx(self, t, obj: SObject, alias: str, key: tuple) -> str:
        if isinstance(t, Token):
            return str(t)
        if t.data == "number":
            return str(t.children[0])
        if t.data == "string":
            raw = str(t.children[0])[1:-1].replace('\\"', '"')
            return "'" + raw.replace("'", "''") + "'"
        if t.data == "path":
            return self._formula_path([str(c) for c in t.children], obj, alias, key)
        if t.data == "concat":
            parts = [f"COALESCE({self._fx(c, obj, alias, key)}, '')" for c in t.children]
            return f"NULLIF({' || '.join(parts)}, '')"
        if t.data in ("sum", "product"):
            out = self._fx(t.children[0], obj, alias, key)
            for op, operand in zip(t.children[1::2], t.children[2::2], strict=True):
                rhs = self._fx(operand, obj, alias, key)
                out = f"({out} {op} {'CAST(' + rhs + ' AS REAL)' if str(op) == '/' else rhs})"
            return out
        if t.data == "comparison":
            lhs, op, rhs = t.children
            sql_op = {"<>": "!=", "==": "="}.get(str(op), str(op))
            return f"({self._fx(lhs, obj, alias, key)} {sql_op} {self._fx(rhs, obj, alias, key)})"
        if t.data == "call":
            name = str(t.children[0]).upper()
            args = [self._fx(c, obj, alias, key) for c in t.children[1:]]
            if name == "IF":
                return f"(CASE WHEN {args[0]} THEN {args[1]} ELSE {args[2]} END)"
            if name == "TEXT":
                return f"CAST({args[0]} AS TEXT)"
            if name == "ISBLANK":
                return f"({args[0]} IS NULL OR {args[0]} = '')"
            if name == "BLANKVALUE":
                return f"COALESCE(NULLIF({args[0]}, ''), {args[1]})"
            if name == "ISPICKVAL":
                return f"(COALESCE({args[0]} = {args[1]}, 0))"
            if name in ("UPPER", "LOWER"):
                return f"{name}({args[0]})"
            if name == "TODAY":
                return "'" + format_date(self.now.date()) + "'"
        raise SFError("FORMULA_EXPRESSION_INVALID", f"sfsim cannot evaluate formula {t}")

    def _formula_path(self, names: list[str], obj: SObject, alias: str, key: tuple) -> str:
        for rel in names[:-1]:
            ref = obj.relationships[rel.lower()]
            target = self.schema.get(ref.reference_to[0], self.tooling)
            key = (*key, ref.relationship_name.lower())
            alias = self._join(key, target, alias, ref.name)
            obj = target
        f = obj.field(names[-1])
        if f.calculated:
            return self._formula(obj, f, alias, key)
        return f"{alias}.{quote(f.name)}"

    # the query
    def compile(self) -> Compiled:
        tree = parse(self.text)
        children = {c.data: c for c in tree.children if isinstance(c, Tree)}
        obj_tok = children["object_name"].children[0]
        self.root_obj = self._check_object(self.schema.get(str(obj_tok), self.tooling), obj_tok)
        select_list = children["select_list"]
        is_count = (
            bool(select_list.children)
            and isinstance(select_list.children[0], Tree)
            and select_list.children[0].data == "count_all"
        )
        root = Node(self.root_obj.name, self._col(f'{self.t0}."Id"'))
        columns: list[str] = []
        column_paths: list[tuple] = []
        if not is_count:
            for item in select_list.children:
                if item.data == "subquery":
                    first = next(item.scan_values(lambda v: isinstance(v, Token)), None)
                    raise self._error(
                        "MALFORMED_QUERY", first, "sfsim does not support relationship subqueries (child records)"
                    )
                self._select_path(item, root, columns, column_paths)
        where_sql = ""
        where_params: list = []
        if "where" in children:
            where_sql = self._cond(children["where"].children[0])
            where_params = self.params
            self.params = []
        where_clause = self._where_clause(where_sql)
        order_sql = ""
        if "order_by" in children:
            order_sql = " ORDER BY " + ", ".join(self._order(o) for o in children["order_by"].children)
        limit = int(children["limit"].children[0]) if "limit" in children else None
        offset = int(children["offset"].children[0]) if "offset" in children else 0
        if offset > MAX_OFFSET:
            raise SFError("NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}")
        from_sql = f" FROM {quote(self.root_obj.name)} AS {self.t0} " + " ".join(self.joins)
        count_sql = "SELECT COUNT(*)" + from_sql + where_clause
        sql = "SELECT " + ", ".join(self.select) + from_sql + where_clause + order_sql
        params = list(where_params)
        if limit is not None or offset:
            sql += " LIMIT ? OFFSET ?"
            params += [limit if limit is not None else -1, offset]
        return Compiled(
            self.root_obj,
            sql,
            params,
            count_sql,
            list(where_params),
            root,
            is_count,
            limit,
            offset,
            columns,
            column_paths,
            self.tooling,
        )

    def _where_clause(self, where_sql: str) -> str:
        conds = []
        if not self.query_all and self.root_obj.field("IsDeleted") is not None:
            conds.append(f'{self.t0}."IsDeleted" = 0')
        if not self.query_all and self.root_obj.name in ("Task", "Event"):
            conds.append(f'COALESCE({self.t0}."IsArchived", 0) = 0')
        if where_sql:
            conds.append(f"({where_sql})")
        return (" WHERE " + " AND ".join(conds)) if conds else ""

    def _semi_join(self, t: Tree, outer: Field) -> str:
        """``X IN (SELECT Y FROM Z WHERE ...)``: compiled with its own aliases into an SQL subquery."""
        path, obj_name = t.children[0], t.children[1]
        sub = Compiler(
            self.text,
            self.schema,
            self.perms,
            query_all=False,
            now=self.now,
            tooling=self.tooling,
            prefix=f"{self.prefix}s{self.subqueries}_",
        )
        self.subqueries += 1
        obj_tok = obj_name.children[0]
        sub.root_obj = sub._check_object(self.schema.get(str(obj_tok), self.tooling), obj_tok)
        (_, expr), f, _ = sub.resolve(list(path.children))
        if f.type not in ("id", "reference") or outer.type not in ("id", "reference"):
            raise self._error(
                "INVALID_FIELD", path.children[-1], "semi join sub-selects can only select an Id or a reference field"
            )
        where_sql = sub._cond(t.children[2].children[0]) if len(t.children) > 2 else ""
        self.params.extend(sub.params)
        return (
            f"SELECT {expr} FROM {quote(sub.root_obj.name)} AS {sub.t0} {' '.join(sub.joins)}"
            f"{sub._where_clause(where_sql)}"
        )

    def _select_path(self, item: Tree, root: Node, columns: list, column_paths: list) -> None:
        tokens = list(item.children)
        (kind, payload), f, steps = self.resolve(tokens)
        node = root
        dotted = []
        for rel_name, target, id_expr, _prefixes in steps:
            idx = self._col(id_expr)
            node = node.child(rel_name, lambda t=target, i=idx: Node(t.name if t else None, i))
            dotted.append(rel_name)
        if kind == COMPOUND:
            payload = [(k, self._col(e)) for k, e in payload]
            added = node.add(f.name, COMPOUND, payload)
        else:
            idx = self._col(payload)
            added = node.add(f.name, kind, idx)
            columns.append(".".join([*dotted, f.name]))
            column_paths.append((kind, idx))
        if not added:
            raise self._error("MALFORMED_QUERY", tokens[-1], f"duplicate field selected: {'.'.join(map(str, tokens))}")

    def _order(self, item: Tree) -> str:
        path = item.children[0]
        (kind, payload), f, _ = self.resolve(list(path.children))
        if kind == COMPOUND:
            raise self._error("INVALID_FIELD", path.children[-1], f"field '{f.name}' can not be sorted in a query call")
        out = payload
        for extra in item.children[1:]:
            word = str(extra).upper()
            out += " DESC" if word == "DESC" else (" ASC" if word == "ASC" else "")
            if word.startswith("NULLS"):
                out += " NULLS FIRST" if word.endswith("FIRST") else " NULLS LAST"
        return out

    # conditions
    def _cond(self, t: Tree) -> str:
        if t.data == "or_cond":
            return "(" + " OR ".join(self._cond(c) for c in t.children) + ")"
        if t.data == "and_cond":
            return "(" + " AND ".join(self._cond(c) for c in t.children) + ")"
        if t.data == "negation":
            return f"NOT ({self._cond(t.children[0])})"
        path = t.children[0]
        (kind, expr), f, _ = self.resolve(list(path.children))
        if kind == COMPOUND:
            raise self._error(
                "INVALID_FIELD", path.children[-1], f"field '{f.name}' can not be filtered in a query call"
            )
        if t.data == "compare":
            return self._compare(expr, f, str(t.children[1]), t.children[2], path)
        if t.data == "like":
            if f.type not in TEXT_TYPES and f.type not in ("id", "reference"):
                raise self._error("INVALID_FIELD", path.children[-1], f"invalid operator on {f.type} field: {f.name}")
            value = self._value(t.children[1], f, path, like=True)
            self.params.append(value)
            return f"{expr} LIKE ? ESCAPE '\\'"
        if t.data in ("in_select", "not_in_select"):
            negate = "NOT " if t.data == "not_in_select" else ""
            return f"{expr} {negate}IN ({self._semi_join(t.children[1], f)})"
        if t.data in ("in_list", "not_in_list"):
            values = [self._value(v, f, path) for v in t.children[1].children]
            non_null = [v for v in values if v is not None]
            self.params.extend(non_null)
            marks = ", ".join("?" * len(non_null))
            has_null = len(non_null) != len(values)
            if t.data == "in_list":
                parts = [f"{expr} IN ({marks})"] if non_null else []
                if has_null:
                    parts.append(f"{expr} IS NULL")
                return "(" + (" OR ".join(parts) or "0") + ")"
            parts = (
                [f"({expr} IS NULL OR {expr} NOT IN ({marks}))" if not has_null else f"{expr} NOT IN ({marks})"]
                if non_null
                else []
            )
            if has_null:
                parts.append(f"{expr} IS NOT NULL")
            return "(" + (" AND ".join(parts) or "1") + ")"
        # includes / excludes on multi-select picklists
        values = [self._value(v, f, path) for v in t.children[1].children]
        tests = []
        for v in values:
            self.params.append(v)
            tests.append(f"(';' || {expr} || ';') LIKE ('%;' || ? || ';%')")
        joined = " OR ".join(tests)
        return f"({joined})" if t.data == "includes" else f"NOT ({joined})"

    def _compare(self, expr: str, f: Field, op: str, value_tree, path) -> str:
        op = "!=" if op == "<>" else op
        if value_tree.data in ("date_literal", "date_n_literal") and f.type in ("date", "datetime"):
            start, end = date_literal_range(str(value_tree.children[0]), self.now.date())
            fmt = (
                format_date
                if f.type == "date"
                else (lambda d: format_datetime(dt.datetime.combine(d, dt.time(), tzinfo=dt.UTC)))
            )
            s, e = fmt(start), fmt(end)
            if op == "=":
                self.params += [s, e]
                return f"({expr} >= ? AND {expr} < ?)"
            if op == "!=":
                self.params += [s, e]
                return f"({expr} IS NULL OR {expr} < ? OR {expr} >= ?)"
            bound = {"<": s, ">=": s, "<=": e, ">": e}[op]
            self.params.append(bound)
            return f"{expr} {({'<=': '<', '>': '>='}).get(op, op)} ?"
        value = self._value(value_tree, f, path)
        if value is None:
            if op == "=":
                return f"{expr} IS NULL"
            if op == "!=":
                return f"{expr} IS NOT NULL"
            raise self._error("MALFORMED_QUERY", path.children[-1], "null may only be used with = or !=")
        self.params.append(value)
        if op == "!=":
            return f"({expr} IS NULL OR {expr} != ?)"
        return f"{expr} {op} ?"

    def _value(self, v: Tree, f: Field, path, like: bool = False):
        kind = v.data
        raw = str(v.children[0]) if v.children else None
        tok = path.children[-1]
        t = f.type
        if kind == "null":
            return None
        if t in ("id", "reference"):
            if kind != "string":
                raise self._type_error(tok, f, "string", quoted=True)
            s = unescape(raw[1:-1], like)
            if like:
                return s
            norm = ids.normalize(s)
            if norm is None:
                raise SFError(
                    "INVALID_QUERY_FILTER_OPERATOR", _located(self.text, tok.line, tok.column, f"invalid ID field: {s}")
                )
            return norm
        if t in TEXT_TYPES:
            if kind != "string":
                raise self._type_error(tok, f, "string", quoted=True)
            return unescape(raw[1:-1], like)
        if t == "boolean":
            if kind not in ("true", "false"):
                raise self._type_error(tok, f, "boolean", quoted=False)
            return 1 if kind == "true" else 0
        if t in ("int", "double", "currency", "percent"):
            if kind != "number":
                raise self._type_error(tok, f, "number" if t != "int" else "integer", quoted=False)
            return float(raw) if ("." in raw or t != "int") else int(raw)
        if t == "date":
            if kind != "date":
                raise self._type_error(tok, f, "date", quoted=False)
            try:
                return format_date(dt.date.fromisoformat(raw))
            except ValueError:
                raise self._type_error(tok, f, "date", quoted=False) from None
        if t == "datetime":
            if kind != "datetime":
                raise self._type_error(tok, f, "dateTime", quoted=False)
            return format_datetime(parse_datetime(raw))
        if kind == "string":
            return unescape(raw[1:-1], like)
        raise self._type_error(tok, f, t, quoted=False)

    def _type_error(self, tok, f: Field, typ: str, quoted: bool) -> SFError:
        how = "should be enclosed in quotes" if quoted else "should not be enclosed in quotes"
        return self._error(
            "INVALID_FIELD", tok, f"value of filter criterion for field '{f.name}' must be of type {typ} and {how}"
        )


def _compound_key(f: Field, part: str) -> str:
    prefix = f.name[: -len("Address")]
    return _COMPOUND_KEYS[part[len(prefix) :]]


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


def unescape(s: str, like: bool = False) -> str:
    """SOQL string escapes; in LIKE patterns ``\\%`` and ``\\_`` stay escaped for SQLite's ESCAPE clause."""
    if "\\" not in s:
        return s
    out = []
    i = 0
    while i < len(s):
        ch = s[i]
        if ch == "\\" and i + 1 < len(s):
            nxt = s[i + 1]
            if nxt in "%_":
                out.append("\\" + nxt if like else nxt)
            elif nxt == "\\" and like:
                out.append("\\\\")
            else:
                out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _month_start(d: dt.date, delta: int = 0) -> dt.date:
    m = d.month - 1 + delta
    return dt.date(d.year + m // 12, m % 12 + 1, 1)


def date_literal_range(literal: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """[start, end) of a SOQL date literal, in the org's time zone (UTC)."""
    lit = literal.upper().replace(" ", "")
    day = dt.timedelta(days=1)
    if ":" in lit:
        name, n_text = lit.split(":")
        n = int(n_text)
        if name == "LAST_N_DAYS":
            return today - n * day, today + day
        if name == "NEXT_N_DAYS":
            return today + day, today + (n + 1) * day
        if name == "N_DAYS_AGO":
            return today - n * day, today - (n - 1) * day
        if name == "N_DAYS_FROM_NOW":
            return today + n * day, today + (n + 1) * day
        if name in ("LAST_N_WEEKS", "NEXT_N_WEEKS"):
            week = today - dt.timedelta(days=(today.weekday() + 1) % 7)
            return (week - 7 * n * day, week) if name.startswith("LAST") else (week + 7 * day, week + 7 * (n + 1) * day)
        if name in ("LAST_N_MONTHS", "NEXT_N_MONTHS"):
            return (
                (_month_start(today, -n), _month_start(today))
                if name.startswith("LAST")
                else (_month_start(today, 1), _month_start(today, n + 1))
            )
        if name in ("LAST_N_YEARS", "NEXT_N_YEARS"):
            y = today.year
            return (
                (dt.date(y - n, 1, 1), dt.date(y, 1, 1))
                if name.startswith("LAST")
                else (dt.date(y + 1, 1, 1), dt.date(y + n + 1, 1, 1))
            )
    week = today - dt.timedelta(days=(today.weekday() + 1) % 7)  # weeks start on Sunday (en_US)
    table = {
        "TODAY": (today, today + day),
        "YESTERDAY": (today - day, today),
        "TOMORROW": (today + day, today + 2 * day),
        "THIS_WEEK": (week, week + 7 * day),
        "LAST_WEEK": (week - 7 * day, week),
        "NEXT_WEEK": (week + 7 * day, week + 14 * day),
        "THIS_MONTH": (_month_start(today), _month_start(today, 1)),
        "LAST_MONTH": (_month_start(today, -1), _month_start(today)),
        "NEXT_MONTH": (_month_start(today, 1), _month_start(today, 2)),
        "LAST_90_DAYS": (today - 90 * day, today + day),
        "NEXT_90_DAYS": (today + day, today + 91 * day),
        "THIS_YEAR": (dt.date(today.year, 1, 1), dt.date(today.year + 1, 1, 1)),
        "LAST_YEAR": (dt.date(today.year - 1, 1, 1), dt.date(today.year, 1, 1)),
        "NEXT_YEAR": (dt.date(today.year + 1, 1, 1), dt.date(today.year + 2, 1, 1)),
    }
    return table[lit]


def compile_soql(
    text: str, schema: Schema, perms: "Perms | None", *, query_all: bool, now: dt.datetime, tooling: bool = False
) -> Compiled:
    return Compiler(text, schema, perms, query_all=query_all, now=now, tooling=tooling).compile()
