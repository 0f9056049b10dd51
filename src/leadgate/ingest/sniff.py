"""How a CSV file is written: its text encoding and its delimiter, decided from a sample.

CRM exports and spreadsheets save CSV in many ways: UTF-8 with or without a byte order
mark, UTF-16 ("Unicode text" from Excel, tab-separated), Windows-1252 / Latin-1 from an
older Excel, commas or semicolons (Excel in a decimal-comma locale), mixed line endings.
What never varies is the quoting: every reader here uses RFC 4180 (fields in double
quotes, a quote inside doubled), so `"Acme ""Best"" Inc"` is `Acme "Best" Inc` and
`"Head of ""Growth"", EMEA"` is one field.

Example: a file starting `\\xff\\xfe` is UTF-16; `email;company\\nann@acme.com;Acme, GmbH`
is read with `;` (every line of the sample has two fields with it, and the comma splits
one line only).

The delimiter is the candidate under which the sample's records are the most consistent
in width (the "pattern score" of CleverCSV, van den Burg et al. 2019, without its type
score). CleverCSV itself is not used: its detection is quadratic in a long line (16 KB of
unbroken text took 3.9 s), and the standard `csv.Sniffer` is worse; this score is one
linear `csv.reader` pass per candidate over at most `SAMPLE_BYTES`.
"""

from __future__ import annotations

import codecs
import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from charset_normalizer import from_bytes

from leadgate.ingest.validate import InputError

SAMPLE_BYTES = 64 * 1024
DELIMITERS = (",", ";", "\t", "|")
# Longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
# What an undecodable byte becomes: a lone surrogate, which no decoded text contains,
# so a line holding one is known to be damaged (rejected with its number).
BAD_CHAR = "\udc00"
ERRORS = "leadgate-mark"


def _mark(exc: UnicodeError) -> tuple[str, int]:
    assert isinstance(exc, UnicodeDecodeError)
    return BAD_CHAR, exc.end


codecs.register_error(ERRORS, _mark)
# The single-byte code pages spreadsheets save in, most common first.
_CODE_PAGES = ["cp1252", "cp1250", "cp1251", "latin_1"]


class RFC4180(csv.Dialect):
    """Double quotes, doubled inside a field; the delimiter is set per file."""

    delimiter = ","
    quotechar = '"'
    doublequote = True
    escapechar = None
    skipinitialspace = False
    lineterminator = "\r\n"
    quoting = csv.QUOTE_MINIMAL
    strict = False


@dataclass(frozen=True, slots=True)
class Layout:
    """How a file is written, and why we think so (printed in the import summary)."""

    encoding: str
    encoding_why: str
    delimiter: str
    dialect: type[csv.Dialect]

    def as_dict(self) -> dict[str, str]:
        """JSON-ready: {"encoding": ..., "encoding_why": ..., "delimiter": ...}."""
        return {
            "encoding": self.encoding,
            "encoding_why": self.encoding_why,
            "delimiter": self.delimiter,
        }


def detect_encoding(head: bytes) -> tuple[str, str]:
    """(codec name, why) for a file starting with `head` (its first SAMPLE_BYTES)."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name, "byte order mark"
    if len(head) >= 4 and head.count(b"\x00") * 3 > len(head):
        # UTF-16 saved without a mark: Latin text has a zero byte in every other place.
        even, odd = head[0::2].count(b"\x00"), head[1::2].count(b"\x00")
        return ("utf-16-le" if odd > even else "utf-16-be"), "zero bytes: UTF-16 without a mark"
    try:
        head.decode("utf-8")
        return "utf-8", "valid UTF-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3 and exc.reason == "unexpected end of data":
            return "utf-8", "valid UTF-8"  # the sample cut a character in two
    if _has_utf8_sequences(head):
        # Mostly UTF-8 with a damaged line: the damaged lines are rejected by number.
        return "utf-8", "UTF-8 with invalid lines"
    matches = list(from_bytes(head, cp_isolation=_CODE_PAGES))
    if not matches:
        return "cp1252", "not UTF-8; Windows-1252 assumed"
    best = matches[0].encoding
    try:
        if head.decode("cp1252") == head.decode(best):
            best = "cp1252"  # the same text either way: name the common one
    except UnicodeDecodeError:
        pass
    return best, "not UTF-8; detected by charset-normalizer"


def _beyond_the_sample(path: Path) -> tuple[str, str] | None:
    """The encoding of a file whose sample was ASCII, from its first non-ASCII bytes:
    None when they are UTF-8 (or there are none). One pass of C-speed decoding."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError:
                if _has_utf8_sequences(chunk):
                    return "utf-8", "UTF-8 with invalid lines"
                name, _ = detect_encoding(chunk)
                return name, "not UTF-8 after the first 64 KB; detected by charset-normalizer"
            if not text.isascii():
                return None  # UTF-8 accents: the file is UTF-8
    return None


def _has_utf8_sequences(data: bytes) -> bool:
    """Whether `data` holds at least one well-formed multi-byte UTF-8 character."""
    text = data.decode("utf-8", errors="replace")
    return any(ord(c) > 0x7F and c != "\ufffd" for c in text)


def choose_delimiter(sample: str) -> str:
    """The candidate delimiter under which the sample's records are most consistent."""
    best, best_score = ",", -1.0
    for delim in DELIMITERS:
        if delim not in sample:
            continue
        widths: Counter[int] = Counter()
        dialect = type("D", (RFC4180,), {"delimiter": delim})
        try:
            for row in csv.reader(sample.splitlines(keepends=True), dialect):
                if row:
                    widths[len(row)] += 1
        except csv.Error:
            pass
        if not widths:
            continue
        score = sum(n * (k - 1) / k for k, n in widths.items()) / len(widths)
        if score > best_score:
            best, best_score = delim, score
    return best


def layout(path: Path, encoding: str | None = None) -> Layout:
    """The file's encoding and delimiter, from its first SAMPLE_BYTES."""
    with path.open("rb") as fh:
        head = fh.read(SAMPLE_BYTES)
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise InputError("--encoding", f"'{encoding}' is not a known encoding") from None
        name, why = encoding, "given"
    else:
        name, why = detect_encoding(head)
        if name == "utf-8" and len(head) == SAMPLE_BYTES and head.isascii():
            # An ASCII sample says nothing about the accents further down.
            name, why = _beyond_the_sample(path) or (name, why)
    text = head.decode(name, errors=ERRORS)
    if len(head) == SAMPLE_BYTES:
        # Whole lines only: a cut record would count as one of another width.
        cut = max(text.rfind("\n"), text.rfind("\r"))
        if cut > 0:
            text = text[:cut]
    delim = choose_delimiter(text)
    dialect = type("FileDialect", (RFC4180,), {"delimiter": delim})
    return Layout(name, why, delim, dialect)
