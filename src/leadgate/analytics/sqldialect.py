"""How each SQL engine spells what the compiled scoring query writes as LG_* placeholders.

`leadgate.analytics.sqlcompile` writes one query in DuckDB's dialect with placeholder
calls for what engines spell differently (JSON access, trimming, number parsing, regular
expressions, list items); SQLGlot transpiles it, then `expand_placeholders` writes each
placeholder in the target's spelling (duckdb, postgres, spark), innermost first.

Example:
    >>> expand_placeholders("SELECT LG_TEXT(p, 'url') FROM ev", "postgres")
    "SELECT (CAST(p AS JSONB) ->> 'url') FROM ev"
"""

from __future__ import annotations

import re

from leadgate.playbook.conditions import INF_RX, NUMBER_RX
from leadgate.playbook.regex import to_dialect

DIALECTS = ("duckdb", "postgres", "spark")
# The store's own engine: only segment filters (leadgate.analytics.sqlsegments) are
# written for it, with the lg_* functions of leadgate.store.sqlfunctions.
SQLITE = "sqlite"
# Every character Python's str.strip() removes (str.isspace over the BMP).
_WS = "".join(chr(c) for c in range(0x10000) if chr(c).isspace())
_WS_CLASS = "[" + "".join("\\" + ch if ch in "\\]^-" else ch for ch in _WS) + "]"
_NUM_RX, _INF_RX = NUMBER_RX, INF_RX  # as_number's grammar: ASCII digits only


def dbl(x: float | int) -> str:
    """A float literal typed DOUBLE (a bare 1.5 is DECIMAL in DuckDB, NUMERIC in PostgreSQL)."""
    return f"CAST({float(x)!r} AS DOUBLE)"


def lit(s: str) -> str:
    """A SQL string literal (standard quoting, as DuckDB and PostgreSQL read it)."""
    return "'" + s.replace("'", "''") + "'"


# -- dialect expansion -----------------------------------------------------------------------


def _split_args(s: str) -> list[str]:
    out, depth, cur, quote = [], 0, [], False
    i = 0
    while i < len(s):
        ch = s[i]
        if quote:
            cur.append(ch)
            if ch == "'":
                if i + 1 < len(s) and s[i + 1] == "'":
                    cur.append("'")
                    i += 1
                else:
                    quote = False
        elif ch == "'":
            quote = True
            cur.append(ch)
        elif ch == "(":
            depth += 1
            cur.append(ch)
        elif ch == ")":
            depth -= 1
            cur.append(ch)
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
        i += 1
    out.append("".join(cur).strip())
    return out


def _unlit(s: str) -> str:
    assert s.startswith("'") and s.endswith("'"), s
    return s[1:-1].replace("''", "'")


def spark_lit(s: str) -> str:
    """A Spark SQL string literal: there a backslash escapes (so `\\b` in a regex must be
    written `\\\\b`, or Spark reads a backspace) and a quote is `\\'`."""
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


_SPARK_ESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}


def _spark_unlit(s: str) -> str:
    """Inverse of `spark_lit`, for the literals sqlglot writes for Spark."""
    assert s.startswith("'") and s.endswith("'"), s
    out, i, body = [], 0, s[1:-1]
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append(_SPARK_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        if ch == "'" and body[i + 1 : i + 2] == "'":
            i += 1
        out.append(ch)
        i += 1
    return "".join(out)


def _json_path(key: str) -> str:
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _spark_json_path(key: str) -> str:
    """Spark's JSON paths: `$."key"` finds nothing there; `$['key']` works in both
    GET_JSON_OBJECT and VARIANT_GET, but has no escape for a quote or a bracket."""
    if "'" in key or "]" in key:
        raise ValueError(f"field {key!r}: Spark's JSON paths cannot name a key with ' or ]")
    return f"$['{key}']"


# Where float() overflows to inf (the midpoint of DBL_MAX and 2^1024) and underflows to 0
# (2^-1075), to 31 significant digits: text closer to them than that is not a concern.
_PG_OVERFLOW = "1.797693134862315807937289714053e308"
_PG_UNDERFLOW = "2.470328229206232720882843964341e-324"
_PG_DBL = "DOUBLE PRECISION"


def _item_text(kind: str, text: str, dialect: str) -> str:
    """`_text_of` for a list item, written in the dialect (expanded after transpiling)."""
    dbl_t = "DOUBLE PRECISION" if dialect == "postgres" else "DOUBLE"
    str_t = "STRING" if dialect == "spark" else "VARCHAR"
    n = f"CAST({text} AS {dbl_t})"
    small = f"ABS({n}) < CAST(9007199254740992 AS {dbl_t})"
    safe = f"(CASE WHEN {small} THEN {n} ELSE CAST(0 AS {dbl_t}) END)"  # as in _text_of
    whole = (
        f"(CASE WHEN {small} AND {safe} = FLOOR({safe}) "
        f"THEN CAST(CAST({safe} AS BIGINT) AS {str_t}) END)"
    )
    return (
        f"(CASE WHEN {kind} = 'string' THEN {text} WHEN {kind} = 'boolean' THEN "
        f"(CASE WHEN {text} = 'true' THEN 'True' ELSE 'False' END) "
        f"WHEN {kind} = 'number' THEN {whole} END)"
    )


_SIMPLE_KEY = re.compile(r"^[A-Za-z0-9_]+$")


def _expand_sqlite(name: str, args: list[str]) -> str:
    """SQLite's spelling: its JSON functions for plain keys, lg_* functions otherwise."""
    simple = {
        "LG_ORD": "{0}",
        "LG_BLANK": "(lg_strip({0}) = '')",
        "LG_TRIM": "lg_strip({0})",
        "LG_NUM": "lg_num({0})",
        "LG_RX": "lg_rx({0}, {1})",
        "LG_AFTER_AT": "lg_after_at({0})",
        "LG_ARRAY_HAS": "lg_array_has({0}, {1}, {2})",
    }
    if name in simple:
        return simple[name].format(*args)
    doc, key = args[0], _unlit(args[1])
    if name not in ("LG_KIND", "LG_TEXT"):
        raise ValueError(f"placeholder {name} has no SQLite spelling")
    if not _SIMPLE_KEY.match(key):
        return f"lg_{name[3:].lower()}({doc}, {args[1]})"
    path = lit(f'$."{key}"')
    t = f"json_type({doc}, {path})"
    if name == "LG_KIND":
        return (
            f"(CASE {t} WHEN 'text' THEN 'string' WHEN 'null' THEN 'null' "
            "WHEN 'true' THEN 'boolean' WHEN 'false' THEN 'boolean' WHEN 'integer' THEN "
            "'number' WHEN 'real' THEN 'number' WHEN 'array' THEN 'array' "
            "WHEN 'object' THEN 'object' ELSE 'missing' END)"
        )
    # Numbers stay numbers (a round trip through text would lose digits).
    return (
        f"(CASE {t} WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
        f"ELSE json_extract({doc}, {path}) END)"
    )


def _expand(name: str, args: list[str], dialect: str) -> str:
    if dialect == SQLITE:
        return _expand_sqlite(name, args)
    quote, unquote = (spark_lit, _spark_unlit) if dialect == "spark" else (lit, _unlit)
    ws = quote(_WS)
    if name == "LG_ORD":
        return f'{args[0]} COLLATE "C"' if dialect == "postgres" else args[0]
    if name == "LG_BLANK":
        x = args[0]
        if dialect != "duckdb":
            return f"(LG_TRIM({x}) = '')"
        # Blank after strip(): empty, or whitespace only (checked only when the first
        # character could be whitespace).
        plain = ", ".join(str(c) for c in sorted({ord(c) for c in _WS}) if c > 32)
        first = f"UNICODE({x})"
        return (
            f"({x} = '' OR (NOT ({first} > 32 AND {first} NOT IN ({plain})) "
            f"AND REGEXP_FULL_MATCH({x}, {quote(_WS_CLASS + '+')})))"
        )
    if name == "LG_TRIM":
        if dialect == "postgres":
            return f"BTRIM({args[0]}, {ws})"
        if dialect == "spark":
            return f"TRIM(BOTH {ws} FROM {args[0]})"
        # TRIM(x, chars) is ~7x slower than RE2 here; the regex strips the same set, and
        # is skipped when the first and last characters are plainly not whitespace.
        x = args[0]
        rx = quote(f"^{_WS_CLASS}+|{_WS_CLASS}+$")
        plain = ", ".join(str(c) for c in sorted({ord(c) for c in _WS}) if c > 32)
        first, last = f"UNICODE({x})", f"UNICODE(RIGHT({x}, 1))"
        return (
            f"(CASE WHEN {first} > 32 AND {first} NOT IN ({plain}) AND {last} > 32 "
            f"AND {last} NOT IN ({plain}) THEN {x} ELSE REGEXP_REPLACE({x}, {rx}, '', 'g') END)"
        )
    if name == "LG_FOLD_SUM":
        # An aggregate: the values added one by one in (t, id) order, as the engine adds
        # a label's manual adjustments (`EngagementRules._adjust`). A double sum depends
        # on its order, and a plain SUM's is the engine's own (DuckDB: per thread):
        # 4 - 1.115 + 19.5 - 4 is 18.385000000000002 in one order, 18.384999999999998 in
        # another, and the cents of a tie go either way.
        v, t, eid = args
        if dialect == "postgres":
            return f'SUM({v} ORDER BY {t}, {eid} COLLATE "C")'
        if dialect == "spark":
            return (
                "AGGREGATE(TRANSFORM(ARRAY_SORT(COLLECT_LIST("
                f"NAMED_STRUCT('t', {t}, 'i', {eid}, 'v', {v}))), s -> s.v), "
                "CAST(0 AS DOUBLE), (a, b) -> a + b)"
            )
        return f"LIST_REDUCE(LIST({v} ORDER BY {t}, {eid}), lambda a, b: a + b)"
    if name == "LG_LIST_DECAY":
        xs, as_of, hl = args
        if hl.upper() == "NULL":
            return f"CAST(LEN({xs}) AS DOUBLE)"
        return (
            f"LIST_SUM(LIST_TRANSFORM({xs}, lambda x: POW(CAST(2 AS DOUBLE), -({as_of} - x) "
            f"/ {hl})))"
        )
    if name == "LG_NUM":
        x = args[0]
        if dialect == "postgres":
            # PostgreSQL refuses text beyond the double range ("1e400", "1e-400") where
            # Python's float() rounds to ±inf / 0: those are decided in NUMERIC first.
            r = f"REPLACE({x}, '_', '')"
            big = f"(ABS(CAST({r} AS NUMERIC)) >= {_PG_OVERFLOW})"
            tiny = f"(ABS(CAST({r} AS NUMERIC)) <= {_PG_UNDERFLOW})"
            inf = (
                f"CAST((CASE WHEN {r} LIKE '-%' THEN '-Infinity' ELSE 'Infinity' END) AS {_PG_DBL})"
            )
            return (
                f"(CASE WHEN LOWER({x}) ~ {quote(_INF_RX)} THEN CAST({r} AS {_PG_DBL}) "
                f"WHEN NOT ({x} ~ {quote(_NUM_RX)}) THEN NULL WHEN {big} THEN {inf} "
                f"WHEN {tiny} THEN CAST(0 AS {_PG_DBL}) ELSE CAST({r} AS {_PG_DBL}) END)"
            )
        rx_fn = "REGEXP_MATCHES" if dialect == "duckdb" else "RLIKE"
        m = f"({rx_fn}({x}, {quote(_NUM_RX)}) OR {rx_fn}(LOWER({x}), {quote(_INF_RX)}))"
        return f"(CASE WHEN {m} THEN CAST(REPLACE({x}, '_', '') AS DOUBLE) END)"
    if name == "LG_RX":
        # The playbook's portable regex, written for this engine (playbook.regex).
        pat = to_dialect(unquote(args[1]), dialect)
        if dialect == "postgres":
            return f"({args[0]} ~ {quote(pat)})"
        if dialect == "spark":
            return f"({args[0]} RLIKE {quote(pat)})"
        return f"REGEXP_MATCHES({args[0]}, {quote(pat)})"
    if name == "LG_AFTER_AT":
        rx = quote("@([^@]*)$")
        if dialect == "postgres":
            return f"SUBSTRING({args[0]} FROM {rx})"
        return f"REGEXP_EXTRACT({args[0]}, {rx}, 1)"
    if name in ("LG_JKIND", "LG_TKIND"):
        # LG_JKIND: the kind of a JSON value; LG_TKIND: of a value whose DuckDB JSON type
        # name is given (JSON_TYPE(doc, [paths]) reads several from one parse).
        t = f"JSON_TYPE({args[0]})" if name == "LG_JKIND" else args[0]
        return (
            f"(CASE {t} WHEN 'VARCHAR' THEN 'string' WHEN 'NULL' THEN 'null' "
            "WHEN 'BOOLEAN' THEN 'boolean' WHEN 'ARRAY' THEN 'array' WHEN 'OBJECT' THEN 'object' "
            f"WHEN 'BIGINT' THEN 'number' WHEN 'UBIGINT' THEN 'number' WHEN 'DOUBLE' THEN 'number' "
            "WHEN 'HUGEINT' THEN 'number' ELSE 'missing' END)"
        )
    if name == "LG_JTEXT":
        return f"({args[0]} ->> '$')"
    if name == "LG_LIST_HAS":
        return (
            f"(LEN(LIST_FILTER({args[0]}, lambda x: LOWER(REGEXP_REPLACE(x, "
            f"{quote(f'^{_WS_CLASS}+|{_WS_CLASS}+$')}, '', 'g')) = {args[1]})) > 0)"
        )
    doc, key = args[0], unquote(args[1])
    if name == "LG_KIND":
        if dialect == "postgres":
            return f"COALESCE(JSONB_TYPEOF(CAST({doc} AS JSONB) -> {quote(key)}), 'missing')"
        if dialect == "spark":
            v = f"TRY_VARIANT_GET(PARSE_JSON({doc}), {quote(_spark_json_path(key))})"
            sch = f"UPPER(SCHEMA_OF_VARIANT({v}))"
            return (
                f"(CASE WHEN {v} IS NULL THEN 'missing' WHEN {sch} = 'VOID' THEN 'null' "
                f"WHEN {sch} = 'STRING' THEN 'string' WHEN {sch} = 'BOOLEAN' THEN 'boolean' "
                f"WHEN {sch} LIKE 'ARRAY%' THEN 'array' WHEN {sch} LIKE 'OBJECT%' THEN 'object' "
                "ELSE 'number' END)"
            )
        t = f"JSON_TYPE({doc}, {quote(_json_path(key))})"
        return (
            f"(CASE {t} WHEN 'VARCHAR' THEN 'string' WHEN 'NULL' THEN 'null' "
            "WHEN 'BOOLEAN' THEN 'boolean' WHEN 'ARRAY' THEN 'array' WHEN 'OBJECT' THEN 'object' "
            f"WHEN 'BIGINT' THEN 'number' WHEN 'UBIGINT' THEN 'number' WHEN 'DOUBLE' THEN 'number' "
            "WHEN 'HUGEINT' THEN 'number' ELSE 'missing' END)"
        )
    if name == "LG_TEXT":
        if dialect == "postgres":
            return f"(CAST({doc} AS JSONB) ->> {quote(key)})"
        if dialect == "spark":
            return f"GET_JSON_OBJECT({doc}, {quote(_spark_json_path(key))})"
        return f"JSON_EXTRACT_STRING({doc}, {quote(_json_path(key))})"
    if name == "LG_LIST":
        # Each item's text (conditions.text_of), from its JSON kind: a string item "5.0"
        # and a number item 5.0 differ ("5.0" and "5").
        items = f"JSON_EXTRACT({doc}, {quote(_json_path(key) + '[*]')})"
        text = _item_text("LG_JKIND(x)", "LG_JTEXT(x)", dialect)
        return f"LIST_TRANSFORM({items}, lambda x: {text})"
    if name == "LG_ARRAY_HAS":
        needle = args[2]
        if dialect == "postgres":
            text = _item_text("JSONB_TYPEOF(arr_e.x)", "(arr_e.x #>> '{}')", dialect)
            return (
                f"EXISTS (SELECT 1 FROM JSONB_ARRAY_ELEMENTS(CAST({doc} AS JSONB) -> "
                f"{quote(key)}) AS arr_e(x) WHERE LOWER(BTRIM({text}, {ws})) = {needle})"
            )
        if dialect == "spark":
            arr = (
                f"TRY_VARIANT_GET(PARSE_JSON({doc}), {quote(_spark_json_path(key))}, "
                "'array<variant>')"
            )
            sch = "UPPER(SCHEMA_OF_VARIANT(x))"
            kind = (
                f"(CASE WHEN {sch} = 'STRING' THEN 'string' WHEN {sch} = 'BOOLEAN' THEN 'boolean' "
                f"WHEN {sch} = 'VOID' OR {sch} LIKE 'ARRAY%' OR {sch} LIKE 'OBJECT%' THEN 'other' "
                "ELSE 'number' END)"
            )
            text = _item_text(kind, "VARIANT_GET(x, '$', 'string')", dialect)
            return f"EXISTS({arr}, x -> LOWER(TRIM(BOTH {ws} FROM {text})) = {needle})"
        text = _item_text("LG_JKIND(x)", "LG_JTEXT(x)", dialect)
        return (
            f"(LEN(LIST_FILTER(JSON_EXTRACT({doc}, {quote(_json_path(key) + '[*]')}), "
            f"lambda x: LOWER(LG_TRIM({text})) = {needle})) > 0)"
        )
    raise ValueError(f"unknown placeholder {name}")  # pragma: no cover


_PLACEHOLDER = re.compile(r"\b(LG_[A-Z_]+)\(")


def expand_placeholders(sql: str, dialect: str) -> str:
    """Replace LG_*(...) calls (innermost first) with the dialect's spelling."""
    while True:
        found = None
        for m in _PLACEHOLDER.finditer(sql):
            if _in_string(sql, m.start(), dialect):
                continue
            found = m
        if found is None:
            return sql
        start = found.end()
        depth, i, quote = 1, start, False
        while depth:
            ch = sql[i]
            if quote:
                if ch == "\\" and dialect == "spark":
                    i += 1  # Spark: the next character is escaped, a quote included
                elif ch == "'":
                    if sql[i + 1 : i + 2] == "'":
                        i += 1
                    else:
                        quote = False
            elif ch == "'":
                quote = True
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            i += 1
        args = _split_args(sql[start : i - 1])
        sql = sql[: found.start()] + _expand(found.group(1).upper(), args, dialect) + sql[i:]


_SPARK_ESCAPED = re.compile(r"\\.", re.S)


def _in_string(sql: str, pos: int, dialect: str) -> bool:
    head = sql[:pos]
    if dialect == "spark":
        # A backslash escapes one character there (only inside strings in this SQL).
        head = _SPARK_ESCAPED.sub("", head)
    return head.count("'") % 2 == 1
