r"""The playbook's portable regular expressions: one meaning in Python, DuckDB, PostgreSQL, Spark.

`matches` runs in Python (the real-time engine, on RE2: `compile_python`) and in SQL
engines whose regex flavours differ: RE2 (DuckDB), ARE (PostgreSQL), java.util.regex
(Spark). A pattern is parsed here
into a small syntax tree and written out again for each engine in spellings all of them
read the same way, so a condition gives one answer everywhere. Anything outside the
subset is refused when the playbook is checked, with the reason.

The subset and its meaning (a search: the pattern may match anywhere in the text):
- literal characters; `\` before any ASCII punctuation makes it literal (`\.`, `\*`,
  `\]`); `\t \n \r \f \v`;
- `.` is any character except a newline (`\n`);
- `[...]` and `[^...]` classes of characters, ranges (`a-z`) and `\d \w \s` (write a
  literal `]` as `\]`);
- `\d` = [0-9], `\w` = [0-9A-Za-z_], `\s` = space, \t, \n, \r, \f, \v — ASCII only, and
  `\D \W \S` their complements (outside classes);
- `^` / `\A` the start of the text, `$` / `\Z` the end of the text (never before a final
  newline, never at line ends);
- `\b` / `\B` a boundary / no boundary between an ASCII word character (`\w`) and
  anything else (or the text's ends);
- groups `(...)`, `(?:...)`; alternatives `a|b` (no empty alternative);
- repeats `* + ? {n} {n,} {n,m} {,m}` (m, n at most 255, PostgreSQL's limit); a lazy
  `?` after a repeat is accepted and changes nothing (only whether a match exists counts);
- `(?i)` at the very start: each letter written in the pattern also matches its other
  case (`k` matches K; `é` matches É), the letters of the text are not case-folded
  (the Kelvin sign K does not match `(?i)k` anywhere).
Refused: lookarounds, backreferences, possessive repeats, atomic groups, named groups,
inline flags other than a leading `(?i)`, `\p{...}`, POSIX classes, octal and other
escapes, and repeat counts above 255.

Example:
    >>> print(to_dialect("(?i)^vp$", "python"))
    ^[Vv][Pp]\Z
    >>> print(to_dialect(r"x\d.", "postgres"))
    x[0-9][^\n]
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, NamedTuple, cast

DIALECTS = ("python", "duckdb", "postgres", "spark")
MAX_REPEAT = 255
_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_WORD = [(48, 57), (65, 90), (95, 95), (97, 122)]
_DIGIT = [(48, 57)]
_SPACE = [(9, 13), (32, 32)]
_CONTROL = {"t": "\t", "n": "\n", "r": "\r", "f": "\f", "v": "\v"}


class RegexError(ValueError):
    """The pattern is outside the portable subset; the message says why."""


# -- syntax tree -----------------------------------------------------------------------------
# Immutable nodes as NamedTuples: a frozen dataclass costs ~4 M instructions to create,
# a NamedTuple ~1 M, and every command that reads a playbook with a `matches` imports
# them (`lead show`, issue 17). Nodes are told apart by isinstance, never by comparison.


class _Class(NamedTuple):
    ranges: tuple[tuple[int, int], ...]
    negated: bool = False


class _Anchor(NamedTuple):
    kind: str  # start, end, word, nonword


class _Repeat(NamedTuple):
    node: _Node
    lo: int
    hi: int | None


class _Alt(NamedTuple):
    branches: tuple[tuple[_Node, ...], ...]


_Node = _Class | _Anchor | _Repeat | _Alt


def _ci(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The ranges plus the other case of each letter in them (one-character cases only)."""
    out = list(ranges)
    for lo, hi in ranges:
        if hi - lo > 5000:
            raise RegexError("(?i) on a character range over 5000 characters wide")
        for c in range(lo, hi + 1):
            ch = chr(c)
            for other in {ch.lower(), ch.upper(), ch.swapcase()}:
                if len(other) == 1 and other != ch:
                    out.append((ord(other), ord(other)))
    return _merge(out)


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


class _Parser:
    def __init__(self, pattern: str):
        self.p, self.i, self.ci = pattern, 0, False

    def fail(self, why: str) -> RegexError:
        return RegexError(f"{why} (at position {self.i}); not portable to every SQL engine")

    def peek(self, n: int = 1) -> str:
        return self.p[self.i : self.i + n]

    def parse(self) -> _Alt:
        if self.p.startswith("(?i)"):
            self.ci, self.i = True, 4
        if "\0" in self.p:
            raise self.fail("a NUL character")
        tree = self.alternation()
        if self.i < len(self.p):
            raise self.fail("unbalanced ')'")
        return tree

    def alternation(self) -> _Alt:
        branches = [self.sequence()]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.sequence())
        if len(branches) > 1 and any(not b for b in branches):
            raise self.fail("an empty alternative (write (...)? instead)")
        return _Alt(tuple(branches))

    def sequence(self) -> tuple[_Node, ...]:
        items: list[_Node] = []
        while self.i < len(self.p) and self.peek() not in ("|", ")"):
            atom = self.atom()
            items.append(self.repeats(atom))
        return tuple(items)

    def repeats(self, atom: _Node) -> _Node:
        bounds = self.quantifier()
        if bounds is None:
            return atom
        if isinstance(atom, _Anchor):
            raise self.fail("a repeat of an anchor")
        if self.peek() == "+":
            raise self.fail("a possessive repeat")
        if self.peek() == "?":
            self.i += 1  # lazy: the same matches exist
        if self.quantifier(probe=True):
            raise self.fail("a repeat of a repeat (group it: (a*)*)")
        return _Repeat(atom, *bounds)

    def quantifier(self, probe: bool = False) -> tuple[int, int | None] | None:
        ch = self.peek()
        if ch in ("*", "+", "?"):
            if not probe:
                self.i += 1
            return {"*": (0, None), "+": (1, None), "?": (0, 1)}[ch]
        if ch != "{":
            return None
        m = re.match(r"\{(\d*)(,?)(\d*)\}", self.p[self.i :])
        if not m or (not m.group(1) and not m.group(3)):
            raise self.fail("a '{' that is not a repeat count (write \\{ for the character)")
        if probe:
            return (0, None)
        lo = int(m.group(1) or 0)
        hi = lo if not m.group(2) else (int(m.group(3)) if m.group(3) else None)
        if lo > MAX_REPEAT or (hi is not None and hi > MAX_REPEAT):
            raise self.fail(f"a repeat count above {MAX_REPEAT}")
        if hi is not None and hi < lo:
            raise self.fail(f"a repeat {{{lo},{hi}}} whose maximum is below its minimum")
        self.i += m.end()
        return lo, hi

    def literal(self, ch: str, fold: bool = True) -> _Class:
        rng = [(ord(ch), ord(ch))]
        return _Class(tuple(_ci(rng) if self.ci and fold else rng))

    def atom(self) -> _Node:
        ch = self.peek()
        if ch == "(":
            return self.group()
        if ch == "[":
            return self.char_class()
        if ch in ("*", "+", "?", "{"):
            raise self.fail(f"'{ch}' with nothing to repeat")
        self.i += 1
        if ch == ".":
            return _Class(((10, 10),), negated=True)
        if ch == "^":
            return _Anchor("start")
        if ch == "$":
            return _Anchor("end")
        if ch == "\\":
            return self.escape(in_class=False)
        return self.literal(ch)

    def group(self) -> _Node:
        self.i += 1
        if self.peek() == "?":
            if self.peek(2) != "?:":
                head = self.p[self.i - 1 : self.i + 3]
                kinds = {
                    "(?=": "a lookahead",
                    "(?!": "a lookahead",
                    "(?<=": "a lookbehind",
                    "(?<!": "a lookbehind",
                    "(?>": "an atomic group",
                    "(?P": "a named group or reference (use (...))",
                    "(?<": "a named group (use (...))",
                    "(?#": "a comment",
                    "(?(": "a conditional",
                }
                for pre, what in kinds.items():
                    if head.startswith(pre):
                        raise self.fail(what)
                raise self.fail("an inline flag (only (?i), at the very start)")
            self.i += 2
        inner = self.alternation()
        if self.peek() != ")":
            raise self.fail("a '(' without its ')'")
        self.i += 1
        if len(inner.branches) == 1 and not inner.branches[0]:
            raise self.fail("an empty group")
        return inner

    def escape(self, in_class: bool) -> _Node:
        if self.i >= len(self.p):
            raise self.fail("a trailing backslash")
        ch = self.p[self.i]
        self.i += 1
        shorthand = {"d": _DIGIT, "w": _WORD, "s": _SPACE}
        if ch.lower() in shorthand:
            neg = ch.isupper()
            if neg and in_class:
                raise self.fail(f"\\{ch} inside [...] (write [^...] instead)")
            return _Class(tuple(shorthand[ch.lower()]), negated=neg)
        # Inside a class, the class folds case once it is complete.
        if ch in _CONTROL:
            return self.literal(_CONTROL[ch], fold=not in_class)
        if ch in _PUNCT:
            return self.literal(ch, fold=not in_class)
        if not in_class:
            anchors = {"A": "start", "Z": "end", "b": "word", "B": "nonword"}
            if ch in anchors:
                return _Anchor(anchors[ch])
        if ch.isdigit():
            raise self.fail(f"\\{ch}: backreferences and octal escapes")
        if ch in ("p", "P"):
            raise self.fail(f"\\{ch}{{...}}: Unicode property classes")
        raise self.fail(f"the escape \\{ch}")

    def char_class(self) -> _Class:
        self.i += 1
        negated = self.peek() == "^"
        if negated:
            self.i += 1
        if self.peek() == "]":
            raise self.fail("a ']' first in a class (write \\] for the character)")
        ranges: list[tuple[int, int]] = []
        while True:
            if self.i >= len(self.p):
                raise self.fail("a '[' without its ']'")
            ch = self.peek()
            if ch == "]":
                self.i += 1
                break
            if ch == "[":
                raise self.fail("a '[' inside a class (nested sets, POSIX classes: write \\[)")
            if self.peek(2) in ("&&", "--", "||", "~~"):
                raise self.fail(
                    f"'{self.peek(2)}' inside a class (a set operation in some engines)"
                )
            lo = self.class_item()
            if isinstance(lo, list):
                ranges.extend(lo)
                continue
            if self.peek() == "-" and self.peek(2) != "-]":
                self.i += 1
                hi = self.class_item()
                if isinstance(hi, list):
                    raise self.fail("a range ending in a class shorthand")
                if hi < lo:
                    raise self.fail("a range whose end comes before its start")
                ranges.append((lo, hi))
            else:
                ranges.append((lo, lo))
        if self.ci:
            ranges = _ci(ranges)
        return _Class(tuple(_merge(ranges)), negated)

    def class_item(self) -> int | list[tuple[int, int]]:
        ch = self.peek()
        self.i += 1
        if ch != "\\":
            return ord(ch)
        node = self.escape(in_class=True)
        assert isinstance(node, _Class)
        if len(node.ranges) == 1 and node.ranges[0][0] == node.ranges[0][1]:
            return node.ranges[0][0]
        return list(node.ranges)


# -- writing it out ----------------------------------------------------------------------------

_W = "[0-9A-Za-z_]"
_LOOK_WORD = f"(?:(?<={_W})(?!{_W})|(?<!{_W})(?={_W}))"
_LOOK_NONWORD = f"(?:(?<={_W})(?={_W})|(?<!{_W})(?!{_W}))"
_ANCHORS = {
    # Python: \Z is the very end; compiled with re.ASCII, \b is an ASCII boundary (\B
    # never matches in an empty text there: spelled with lookarounds).
    "python": {"start": "^", "end": "\\Z", "word": "\\b", "nonword": _LOOK_NONWORD},
    # RE2 without (?m): ^ $ are the text's ends; \b \B are ASCII.
    "duckdb": {"start": "^", "end": "\\z", "word": "\\b", "nonword": "\\B"},
    # ARE: ^ $ are the text's ends (not newline-sensitive); \y follows the locale, so
    # the boundary is spelled with lookarounds on ASCII word characters.
    "postgres": {"start": "^", "end": "$", "word": _LOOK_WORD, "nonword": _LOOK_NONWORD},
    # Java's $ also matches before a final line terminator, \b follows Unicode (JDK 17).
    "spark": {"start": "^", "end": "\\z", "word": _LOOK_WORD, "nonword": _LOOK_NONWORD},
}
# What \B is written as for RE2, and what makes an RE2 match start between characters.
_NONWORD_SPELLED = "\\B"
_AT_A_CHARACTER = "(?:\\A|(?s:.))"
_OUTSIDE_ESCAPE = frozenset(".^$|?*+()[]{}\\")
_INSIDE_ESCAPE = frozenset("\\]^-[&")
_CONTROL_OUT = {9: "\\t", 10: "\\n", 13: "\\r", 12: "\\f"}


def _char(c: int, inside: bool) -> str:
    if c in _CONTROL_OUT:
        return _CONTROL_OUT[c]
    ch = chr(c)
    if ch in (_INSIDE_ESCAPE if inside else _OUTSIDE_ESCAPE):
        return "\\" + ch
    return ch


def _write(node: _Class | _Anchor, dialect: str) -> str:
    if isinstance(node, _Anchor):
        return _ANCHORS[dialect][node.kind]
    if not node.negated and len(node.ranges) == 1 and node.ranges[0][0] == node.ranges[0][1]:
        return _char(node.ranges[0][0], inside=False)
    parts = []
    for lo, hi in node.ranges:
        if lo == hi:
            parts.append(_char(lo, True))
        elif hi == lo + 1:
            parts.append(_char(lo, True) + _char(hi, True))
        else:
            parts.append(f"{_char(lo, True)}-{_char(hi, True)}")
    return "[" + ("^" if node.negated else "") + "".join(parts) + "]"


def _wrap_groups(tree: _Alt, dialect: str) -> str:
    """Alternatives nested in a sequence need their group back: (a|b)c."""
    return "|".join("".join(_atom(n, dialect) for n in b) for b in tree.branches)


def _atom(node: _Node, dialect: str) -> str:
    if isinstance(node, _Alt):
        return f"(?:{_wrap_groups(node, dialect)})"
    if isinstance(node, _Repeat):
        inner = _atom(node.node, dialect)
        lo, hi = node.lo, node.hi
        q = {(0, None): "*", (1, None): "+", (0, 1): "?"}.get((lo, hi))
        if q is None:
            q = f"{{{lo}}}" if hi == lo else f"{{{lo},{'' if hi is None else hi}}}"
        return inner + q
    return _write(node, dialect)


@lru_cache(maxsize=1024)
def to_dialect(pattern: str, dialect: str) -> str:
    """The pattern as `dialect` (python, duckdb, postgres, spark) must be given it.

    Raises RegexError (a ValueError) when the pattern is outside the portable subset.
    """
    if dialect not in DIALECTS:
        raise ValueError(f"dialect must be one of {', '.join(DIALECTS)}")
    out = _wrap_groups(_Parser(pattern).parse(), dialect)
    if dialect == "duckdb" and _NONWORD_SPELLED in out:
        # RE2 searches from every byte, and inside a character of several UTF-8 bytes
        # both sides are "not a word character": a leading \B matched in 'aKa' (the
        # Kelvin sign) where no engine that reads characters finds a place. A match
        # that starts at the text's start or after one whole character is one that
        # starts between characters.
        out = f"{_AT_A_CHARACTER}(?:{out})"
    return out


def check(pattern: str) -> None:
    """Raise RegexError (a ValueError, with the reason) unless every engine runs `pattern`."""
    compile_python(pattern)


class Search:
    """A compiled pattern's `search(text)`: a match (truthy) or None, as `re`'s.

    RE2, the engine DuckDB runs, in time linear in the text. Python's `re` backtracks:
    `(\\w+\\s?)+$` took exponential time on a title of 40 letters and a `!`, and
    `\\d+\\d+\\d+!` polynomial time on 5,000 digits, holding every write behind it.
    The pattern is the DuckDB spelling: RE2 reads UTF-8, as DuckDB does.
    """

    __slots__ = ("_search",)

    def __init__(self, compiled: Any):
        self._search = compiled.search

    def search(self, text: str) -> object | None:
        """A match of the pattern anywhere in `text`, or None."""
        try:
            return cast("object | None", self._search(text))
        except UnicodeEncodeError:
            # A lone surrogate has no UTF-8: searched as the replacement character.
            return cast("object | None", self._search(_utf8_safe(text)))


def _utf8_safe(text: str) -> str:
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


@lru_cache(maxsize=1024)
def compile_python(pattern: str) -> Search:
    """The pattern compiled for the real-time engine (the same meaning as in SQL).
    Raises RegexError outside the portable subset, or past RE2's limits (repeat counts
    that multiply past 1,000: `(a{255}){255}`), which DuckDB would refuse too."""
    spelled = to_dialect(pattern, "duckdb")
    import re2  # here: ~30 ms of start-up that a command compiling no regex need not pay

    options = re2.Options()
    options.log_errors = False  # RE2 would print its own line on stderr besides our error
    try:
        return Search(re2.compile(spelled, options))
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise RegexError(f"{reason}: RE2, the engine DuckDB runs, refuses it") from None
