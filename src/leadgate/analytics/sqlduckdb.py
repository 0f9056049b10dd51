"""The DuckDB scoring query: the same numbers as the portable query, in fewer passes.

`leadgate.analytics.sqlcompile.compile_scoring(pb, as_of, "duckdb")` builds it; the
comment below says how it differs from the portable query and why.

Example:
    >>> from leadgate.playbook.loader import bundled_playbook
    >>> "WITH" in build_duckdb(bundled_playbook()[0], "leads", "events", 1.78e9)
    True
"""

from __future__ import annotations

from collections.abc import Callable

from leadgate.analytics.sqlconditions import (
    Columns,
    StagedColumns,
    condition_sql,
    lead_field,
)
from leadgate.analytics.sqldialect import (
    dbl,
    lit,
)
from leadgate.analytics.sqlparts import (
    _SENTINEL,
    _adjustments,
    _grades,
    round2_staged,
)
from leadgate.playbook.conditions import contains_needles
from leadgate.playbook.model import (
    AllCondition,
    AnyCondition,
    Condition,
    EngagementRule,
    FieldCondition,
    Playbook,
)
from leadgate.scoring.engagement import ADJUSTMENT, DAY

# Every character that can stand in a JSON text outside its strings' contents, or in
# DuckDB's text of a number (NaN and Infinity included) or a boolean, lower-cased.
_OUTSIDE_STRINGS = frozenset(" \t\n\r{}[]:,0123456789.+-e" + "truefalsn" + "infinityan")


def _prefilter(cond: Condition | None, doc: str) -> str | None:
    """A cheap test on the raw JSON text `doc` that `cond` implies, or None.

    `contains` is true only if the needle is in the field's lower-cased text (or, for
    an array, equals an element). Where the raw text is ASCII without a backslash, every
    string's contents stand in it verbatim, so a needle found inside a string's contents
    is in the lower-cased raw text too. A needle with a quote or a backslash, or made only
    of characters that can stand outside strings (digits, `e`, `.`, `true`, `NaN`,
    brackets…: a number or an object's serialization may differ from the raw text there)
    gets no prefilter. Raw texts with escapes or non-ASCII characters always pass.
    """
    if isinstance(cond, FieldCondition):
        if cond.op != "contains":
            return None
        # Every needle the test looks for (a domain's spellings: contains_needles).
        needles = [str(cond.value).casefold(), *contains_needles(cond)[1:]]
        if any('"' in n or "\\" in n or not set(n) - _OUTSIDE_STRINGS for n in needles):
            return None
        found = " OR ".join(f"CONTAINS(LOWER({doc}), {lit(n)})" for n in needles)
        return f"({found} OR CONTAINS({doc}, CHR(92)) OR STRLEN({doc}) <> LENGTH({doc}))"
    if isinstance(cond, AllCondition):
        pres = [x for x in (_prefilter(c, doc) for c in cond.all) if x]
        return "(" + " AND ".join(pres) + ")" if pres else None
    if isinstance(cond, AnyCondition):
        anys = [_prefilter(c, doc) for c in cond.any]
        return "(" + " OR ".join(x for x in anys if x) + ")" if all(anys) else None
    return None


# -- the DuckDB query ------------------------------------------------------------------------
#
# The portable query above sorts every scored event by window functions and groups by
# (lead, rule); on 20M events that is ~18 s in DuckDB. The DuckDB query reaches the same
# numbers with fewer passes:
# - a rule's score depends only on the multiset of its scored events' times (decay reads
#   nothing else, and the caps' decisions depend on times only), so events tied in time are
#   interchangeable: no tie-break by id is needed, and "the first N" of a per-lead cap are
#   the N smallest times. Rules without a rolling window are one single-pass pivot
#   (SUM / MIN / MIN(t, N) with FILTER) over all events, grouped by lead;
# - rolling windows: one sort per rule, one window over all leads ordered by (lead,
#   time); segments of at most `count` events score whole (grouped), only the rest is
#   walked (as in the portable query), all rules in one recursive CTE;
# - fit conditions are evaluated once per distinct combination of the fields they read,
#   each field's derived values (number, text...) computed once (`StagedColumns`);
# - JSON properties are parsed only on rows of event types whose rules read them, each
#   read field once, and not at all on rows a cheap exact test of the raw text rules out
#   (`_prefilter`, for `contains`); rule conditions on properties once per distinct
#   properties text (`_by_text`);
# - cents are rounded in stages (`round2_staged`) and CTEs read once are not
#   materialized: planning and copying cost a noticeable share on small inputs.


def build_duckdb(pb: Playbook, leads: str, events: str, as_of: float) -> str:
    eng = pb.engagement
    rules = eng.rules
    hl = eng.half_life_days * DAY if eng.half_life_days else None
    as_of_sql = dbl(as_of)

    def decay(t: str) -> str:
        if hl is None:
            return "CAST(1 AS DOUBLE)"
        return f"POW(CAST(2 AS DOUBLE), -({as_of_sql} - {t}) / {dbl(hl)})"

    ctes: list[tuple[str, str, bool]] = []
    rolling = [i for i, r in enumerate(rules) if r.max_per_days is not None]

    def source(subset: list[int], extra_types: tuple[str, ...] = ()) -> str:
        """Events of the subset's types (and `extra_types`), with a flag m<i> per rule.

        Each consumer scans the events itself: only its types, and JSON parsed only
        on rows of types whose rules read properties. The subset's conditions are
        evaluated once per distinct properties text (`_by_text`); `extra_types` rows
        (adjustments) keep their parsed fields in the row.
        """
        props = Columns("p", "p", lists=True)
        conds: dict[int, str] = {}
        for i in subset:
            cond = rules[i].if_
            if cond is not None:
                conds[i] = condition_sql(cond, props)
        want = sorted({rules[i].event for i in subset} | set(extra_types))
        cond_types = sorted({rules[i].event for i in conds})
        json_types = sorted(set(cond_types) | set(extra_types))
        p = (
            f"CASE WHEN type IN ({', '.join(lit(t) for t in json_types)}) THEN properties END"
            if json_types
            else "CAST(NULL AS VARCHAR)"
        )
        # Rows of a type whose every rule has a prefilter are read only where one holds.
        pre_by_type: dict[str, list[str]] = {}
        for t in want:
            pres = [_prefilter(rules[i].if_, "properties") for i in subset if rules[i].event == t]
            if t not in extra_types and pres and all(pres):
                pre_by_type[t] = [x for x in pres if x]
        keep = ""
        if pre_by_type:
            free = [t for t in want if t not in pre_by_type]
            alts = [f"type IN ({', '.join(lit(t) for t in free)})"] if free else []
            alts += [f"(type = {lit(t)} AND ({' OR '.join(x)}))" for t, x in pre_by_type.items()]
            keep = f" AND ({' OR '.join(alts)})"
        scan = (
            f"FROM {events} WHERE CAST(occurred_at AS DOUBLE) <= {as_of_sql} "
            f"AND type IN ({', '.join(lit(t) for t in want)}){keep}"
        )
        # Adjustments carry their id: a label's points are added in (t, id) order.
        eid = ", id AS eid" if extra_types else ""
        raw = (
            f"SELECT lead_id, type AS etype, CAST(occurred_at AS DOUBLE) AS t, {p} AS p{eid} {scan}"
        )
        p_inner, p_outer = props.parse_once()
        if extra_types:
            flags = "".join(
                f", (etype = {lit(rules[i].event)}"
                + (f" AND {conds[i]}" if i in conds else "")
                + f") AS m{i}"
                for i in subset
            )
            return (
                f"(SELECT lead_id, etype, t, p, eid{flags} FROM (SELECT *{p_outer} FROM "
                f"(SELECT *{p_inner} FROM ({raw}) AS e0) AS e1) AS e2)"
            )
        flags = "".join(
            f", (etype = {lit(rules[i].event)}"
            + (f" AND d.c{i}" if i in conds else "")
            + f") AS m{i}"
            for i in subset
        )
        if not conds:
            return f"(SELECT lead_id, etype, t, p{flags} FROM ({raw}) AS e)"
        return (
            f"(SELECT e.lead_id, e.etype, e.t, e.p{flags} FROM ({raw}) AS e "
            f"LEFT JOIN ({_by_text(conds, p_inner, p_outer, cond_types, scan)}) AS d "
            "ON e.p IS NOT DISTINCT FROM d.p)"
        )

    ctes.append(("ev", f"SELECT lead_id, etype, t, p, eid FROM {source([], (ADJUSTMENT,))}", False))

    def rule_filter(i: int) -> str:
        return f"m{i}"

    # Rules without a rolling window: one pivot over all events.
    aggs: list[str] = []
    pivot_terms: dict[str, str] = {}
    for i, r in enumerate(rules):
        if r.max_per_days is not None:
            continue
        f = f"FILTER (WHERE {rule_filter(i)})"
        cap = r.max_per_lead
        if hl is None:
            n = f"CAST(COUNT(*) {f} AS DOUBLE)"
            agg = n if cap is None else f"LEAST({n}, {dbl(cap)})"
        elif cap is None:
            agg = f"SUM({decay('t')}) {f}"
        elif cap == 1:
            agg = decay(f"MIN(t) {f}")
        else:
            agg = f"LG_LIST_DECAY(MIN(t, {int(cap)}) {f}, {as_of_sql}, {dbl(hl)})"
        aggs.append(f"{agg} AS s{i}")
        pivot_terms[f"c{i}"] = f"({dbl(r.points)} * s{i})"
    if aggs:
        src = source([i for i in range(len(rules)) if i not in rolling])
        ctes.append(("pv", f"SELECT lead_id, {', '.join(aggs)} FROM {src} GROUP BY lead_id", False))
        ctes.append(("pve", _sum_rounded("pv", pivot_terms), True))

    contribs: list[str] = []
    if rolling:
        _rolling(ctes, rules, rolling, [source([i]) for i in rolling], decay, hl, as_of)

    _adjustments(ctes, contribs, eng.adjustments.decay, decay, hl)
    ctes.append(("ce", " UNION ALL ".join(contribs), False))
    ctes.append(("eg", "SELECT lead_id, SUM(c) AS x FROM ce GROUP BY lead_id", True))

    # Fit: once per distinct combination of the fields the rules read.
    # Three stages: the raw JSON fields (each parsed once), the fields as rules see them
    # (email, email_domain derived), then the rules on distinct combinations.
    rawf = Columns("l.attributes", "r")
    attrs = StagedColumns("l.attributes", "a", lambda k: lead_field(k, rawf, "l.em_at"), lists=True)
    fit_terms = ["CAST(0 AS DOUBLE)"]
    for fr in pb.fit.rules:
        fit_terms.append(
            f"(CASE WHEN {condition_sql(fr.if_, attrs)} THEN {dbl(round(fr.points, 2))} "
            "ELSE CAST(0 AS DOUBLE) END)"
        )
    la_cols = attrs.select()
    if "email_domain" in attrs.keys:
        rawf("email")
    r_inner, r_outer = rawf.parse_once()
    em_at = ""
    if "email_domain" in attrs.keys:
        e = rawf("email")
        em_at = (
            f", LG_AFTER_AT(CASE WHEN {e.kind} = 'missing' THEN email ELSE {e.text} END) AS em_at"
        )
    # The leads are copied first: a file of one row group is read by one thread, and
    # the JSON work on the copy runs on all of them.
    ctes.append(("l0", f"SELECT id, email, attributes FROM {leads}", True))
    ctes.append(
        (
            "lr",
            f"SELECT *{em_at} FROM (SELECT *{r_outer} FROM (SELECT l.id, l.email, "
            f"l.attributes{r_inner} FROM l0 AS l) AS l) AS l1",
            False,
        )
    )
    ctes.append(("la", f"SELECT l.id{la_cols} FROM lr AS l", True))
    keys = [f"{c}{n}" for n in range(len(attrs.keys)) for c in ("ak", "ax")]
    keys += [f"al{attrs.keys[k]}" for k in sorted(attrs.list_keys)]
    if keys:
        # GROUP BY puts NULLs together, as the rules see them (missing is missing).
        ctes.append(
            (
                "fd",
                f"SELECT LIST(id) AS ids, {', '.join(keys)} FROM la GROUP BY {', '.join(keys)}",
                False,
            )
        )
        # Each field's derived values once per combination, then the rules on them.
        ctes.append(
            (
                "fv",
                f"SELECT ids, ({' + '.join(fit_terms)}) AS fx FROM "
                f"(SELECT *{attrs.stage(' + '.join(fit_terms))} FROM fd) AS fd",
                False,
            )
        )
        ctes.append(("fl", "SELECT UNNEST(ids) AS lead_id, fx FROM fv", False))
    else:
        ctes.append(("fl", f"SELECT id AS lead_id, {' + '.join(fit_terms)} AS fx FROM la", False))
    joins = ""
    ex = "COALESCE(eg.x, CAST(0 AS DOUBLE))"
    if aggs:
        joins += " LEFT JOIN pve ON pve.lead_id = fl.lead_id"
        ex = f"COALESCE(pve.x, CAST(0 AS DOUBLE)) + {ex}"
    if rolling:
        joins += " LEFT JOIN rpe ON rpe.lead_id = fl.lead_id"
        ex = f"COALESCE(rpe.x, CAST(0 AS DOUBLE)) + {ex}"
    ctes.append(
        (
            "sx",
            "SELECT fl.lead_id, fl.fx + COALESCE(adjf.x, CAST(0 AS DOUBLE)) AS fx, "
            f"{ex} AS ex FROM fl LEFT JOIN adjf ON adjf.lead_id = fl.lead_id "
            f"LEFT JOIN eg ON eg.lead_id = fl.lead_id{joins}",
            False,
        )
    )
    # Each read once: streamed, not copied (the few read twice stay materialized).
    once = frozenset({"pve", "rpe", "la", "eg", "adje", "adjf", "sr", "st"})
    return _grades(pb, ctes, recursive=bool(rolling), staged=True, inline=once)


def _by_text(conds: dict[int, str], p_inner: str, p_outer: str, types: list[str], scan: str) -> str:
    """Each distinct properties text `p` of `types` (NULL included) with c<i> = rule i's
    condition on it (never NULL).

    Property conditions depend on the text alone, and events repeat a few payloads
    (the same URLs, the same form): parsing each text once and joining the verdicts back
    costs a hash of the text per event instead of a JSON parse (2.3x less CPU for the
    bundled playbook's pricing-page rule on 1M page views).
    """
    tl = ", ".join(lit(t) for t in types)
    cs = ", ".join(f"COALESCE({c}, FALSE) AS c{i}" for i, c in conds.items())
    return (
        f"SELECT p, {cs} FROM (SELECT *{p_outer} FROM (SELECT *{p_inner} FROM "
        f"(SELECT DISTINCT properties AS p {scan} AND type IN ({tl})) AS d0) AS d1) AS d2"
    )


def _sum_rounded(src: str, terms: dict[str, str]) -> str:
    """lead_id and x = the sum of each term rounded to cents (a missing term counts 0)."""
    total = " + ".join(f"COALESCE({n}, CAST(0 AS DOUBLE))" for n in terms)
    return f"SELECT lead_id, {total} AS x FROM ({round2_staged(src, terms)}) AS r"


def _rolling(
    ctes: list[tuple[str, str, bool]],
    rules: list[EngagementRule],
    rolling: list[int],
    sources: list[str],
    decay: Callable[[str], str],
    hl: float | None,
    as_of: float,
) -> None:
    """The rules with a rolling window (`max_per_days`), all in one sort and one walk.

    One window over (lead, rule) gives positions and the K times before and after each
    event (K the largest `count`). A segment (events closer than `days` to their
    predecessor) of at most `count` events scores whole; whether an event's segment is
    that small is read from its neighbours. Tied events are interchangeable (and in one
    segment), so no tie-break is needed. Only the rest ("dense" segments) is walked, by
    one recursive CTE for all rules, whose state is the last K scored times.
    """
    big_k = max(rules[i].max_per_days.count for i in rolling)  # type: ignore[union-attr]
    days = {i: dbl(rules[i].max_per_days.days * DAY) for i in rolling}  # type: ignore[union-attr]
    counts = {i: rules[i].max_per_days.count for i in rolling}  # type: ignore[union-attr]

    def col(prefix: str, j: int) -> str:
        return "t" if j == 0 else f"{prefix}{j}"

    def starts(j: int, d: str) -> str:  # a segment starts j events before this one
        return f"({col('b', j + 1)} IS NULL OR {col('b', j + 1)} <= {col('b', j)} - {d})"

    def ends(j: int, d: str) -> str:  # a segment ends j events after this one
        return f"({col('a', j + 1)} IS NULL OR {col('a', j)} <= {col('a', j + 1)} - {d})"

    # One sort per rule, each with the neighbours its count needs. One ordered window
    # over the rule's events (ORDER BY lead, time; no PARTITION BY): DuckDB's window
    # costs ~1.5x the CPU when partitioned by lead (a quarter million small partitions),
    # and a neighbour of another lead is read as no neighbour (NULL) instead.
    w = "ORDER BY lead_id, t"
    parts = []
    for i, src in zip(rolling, sources, strict=True):
        k, d = counts[i], days[i]
        small = " OR ".join(
            f"({starts(x, d)} AND {ends(y, d)})" for x in range(k) for y in range(k - x)
        )
        near = [(f"b{j}", "LAG", j) for j in range(1, k + 1)]
        near += [(f"a{j}", "LEAD", j) for j in range(1, k + 1)]
        win = (
            f"SELECT lead_id, r, t, ROW_NUMBER() OVER ({w}) AS pos, "
            + ", ".join(
                f"{f}(t, {j}) OVER ({w}) AS {n}, {f}(lead_id, {j}) OVER ({w}) AS {n}l"
                for n, f, j in near
            )
            + f" FROM (SELECT lead_id, {i} AS r, t FROM {src} AS e WHERE m{i}) AS e"
        )
        own = ", ".join(f"CASE WHEN {n}l = lead_id THEN {n} END AS {n}" for n, _, _ in near)
        parts.append(
            f"SELECT lead_id, r, t, pos, {starts(0, d)} AS first, ({small}) AS small "
            f"FROM (SELECT lead_id, r, t, pos, {own} FROM ({win}) AS e) AS e"
        )
    ctes.append(("rb", " UNION ALL ".join(parts), True))
    ctes.append(("rd", "SELECT lead_id, r, pos, t, first FROM rb WHERE NOT small", True))
    # The greedy walk through dense segments. State: the last K scored times, oldest
    # first; a rule of count k compares with the k-th latest (w{K-k+1}).
    ws = [f"w{j}" for j in range(1, big_k + 1)]
    oks = {i: f"(w.w{big_k - counts[i] + 1} <= c.t - {days[i]})" for i in rolling}
    ok = (
        oks[rolling[0]]
        if len(rolling) == 1
        else "(CASE w.r " + " ".join(f"WHEN {i} THEN {x}" for i, x in oks.items()) + " END)"
    )
    base_w = [_SENTINEL] * (big_k - 1) + ["t"]
    step_w = [f"CASE WHEN {ok} THEN w.w{j + 1} ELSE w.w{j} END" for j in range(1, big_k)]
    step_w.append(f"CASE WHEN {ok} THEN c.t ELSE w.w{big_k} END")
    ctes.append(
        (
            "wk",
            "SELECT lead_id, r, pos, t, TRUE AS ok, "
            + ", ".join(f"{b} AS {n}" for b, n in zip(base_w, ws, strict=True))
            + " FROM rd WHERE first UNION ALL "
            f"SELECT c.lead_id, c.r, c.pos, c.t, {ok} AS ok, "
            + ", ".join(f"{b} AS {n}" for b, n in zip(step_w, ws, strict=True))
            # Positions run over all leads (one window per rule): (r, pos) is unique,
            # and a lead's first event always starts a segment (`first`).
            + " FROM wk AS w JOIN rd AS c ON c.r = w.r AND c.pos = w.pos + 1 AND NOT c.first",
            False,
        )
    )
    as_of_sql = dbl(as_of)
    aggs: list[str] = []
    terms: dict[str, str] = {}
    for i in rolling:
        f = f"FILTER (WHERE r = {i})"
        cap = rules[i].max_per_lead
        if cap is None:
            agg = f"SUM({decay('t')}) {f}"
        else:
            agg = f"LG_LIST_DECAY(MIN(t, {int(cap)}) {f}, {as_of_sql}, {dbl(hl) if hl else 'NULL'})"
        aggs.append(f"{agg} AS s{i}")
        terms[f"c{i}"] = f"({dbl(rules[i].points)} * s{i})"
    ctes.append(
        (
            "rp",
            f"SELECT lead_id, {', '.join(aggs)} FROM (SELECT lead_id, r, t FROM rb WHERE small "
            "UNION ALL SELECT lead_id, r, t FROM wk WHERE ok) AS u GROUP BY lead_id",
            False,
        )
    )
    # One row per lead already: joined to the totals as it is, not grouped again.
    ctes.append(("rpe", _sum_rounded("rp", terms), True))
