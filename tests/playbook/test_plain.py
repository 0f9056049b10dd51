"""A stored playbook read back from its plain form is what validating its YAML makes.

`leadgate.playbook.plain` rebuilds a validated playbook without YAML or pydantic's
validators (issue 17: `lead show`'s start-up). These tests compare, object by object, the
rebuilt playbook with the validated one (class, every field's value and type, the fields
that were set), for the bundled playbook, playbooks with every section, and the bundled one
with hostile values spliced in; and check that a plain form is used only for the YAML and
the schema it was made from, and never makes a class that is not a playbook model.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from leadgate.playbook import plain
from leadgate.playbook.loader import PlaybookError, bundled_playbook, load_playbook
from leadgate.playbook.model import Playbook
from leadgate.store.playbook_rows import schema_fingerprint

from .test_fuzz_loader import HOSTILE
from .test_sales_sections import FULL

BUNDLED = bundled_playbook()[1]
S = "schema"  # what the store's fingerprint names: pure tests use their own
FORMS = (Path(__file__).parents[1] / "forms" / "forms.yaml").read_text(encoding="utf-8")


def same(a: Any, b: Any, where: str = "playbook") -> None:
    """a and b are equal down to each value's type and each model's set fields."""
    assert type(a) is type(b), where
    if hasattr(type(a), "model_fields"):
        assert a.model_fields_set == b.model_fields_set, where
        assert list(a.__dict__) == list(b.__dict__), where
        for k in a.__dict__:
            same(a.__dict__[k], b.__dict__[k], f"{where}.{k}")
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{where}[{i}]")
    else:
        assert a == b or (a != a and b != b), where  # NaN is itself


def round_trip(text: str) -> tuple[Playbook, Playbook]:
    validated = load_playbook(text)
    rebuilt = plain.loads(plain.dumps(validated, text, S), text, S)
    assert rebuilt is not None
    return validated, rebuilt


@pytest.mark.parametrize(
    "text", [BUNDLED, FULL, BUNDLED + "\n" + FORMS], ids=["bundled", "full", "forms"]
)
def test_the_plain_form_rebuilds_what_validation_makes(text: str) -> None:
    validated, rebuilt = round_trip(text)
    same(validated, rebuilt)
    assert validated == rebuilt and repr(validated) == repr(rebuilt)


def _hostile_variants() -> list[str]:
    """The bundled playbook with a hostile value in place of one line's value."""
    lines = BUNDLED.splitlines()
    spots = [
        i for i, line in enumerate(lines) if ": " in line and not line.lstrip().startswith("#")
    ]
    out = []
    for i, value in itertools.product(spots[::3], HOSTILE[::2]):
        key = lines[i].split(": ", 1)[0]
        out.append("\n".join([*lines[:i], f"{key}: {value}", *lines[i + 1 :]]) + "\n")
    return out


def test_hostile_playbooks_that_load_rebuild_the_same() -> None:
    loaded = 0
    for text in _hostile_variants():
        try:
            validated, rebuilt = round_trip(text)
        except PlaybookError:
            continue
        same(validated, rebuilt)
        loaded += 1
    assert loaded > 20  # the comparison ran on many playbooks, not on none


def test_odd_keys_and_values_survive() -> None:
    # Keys that look like the plain form's own tags (a form's answers are free text),
    # a condition value that looks like one, unicode.
    text = (
        BUNDLED + "\n" + FORMS.replace("budget approved", "$m").replace("no budget yet", "$t é")
    ).replace("value: just looking}", 'value: \'{"$o": {"$d": "2024-01-01"}}\'}', 1)
    validated, rebuilt = round_trip(text)
    same(validated, rebuilt)
    assert '"$o"' in repr(rebuilt.forms) and "'$m'" in repr(rebuilt.forms)


def test_a_holiday_date_is_a_date() -> None:
    validated, rebuilt = round_trip(FULL)
    same(validated.sla, rebuilt.sla)


def test_the_form_is_used_only_for_its_own_yaml_and_schema() -> None:
    pb, text = bundled_playbook()
    form = plain.dumps(pb, text, S)
    assert plain.loads(form, text, S) == pb
    assert plain.loads(form, text + "\n# edited\n", S) is None  # the YAML changed since
    assert plain.loads(None, text, S) is None and plain.loads("", text, S) is None
    assert plain.loads("{not json", text, S) is None
    data = json.loads(form)
    assert plain.loads(json.dumps({**data, "format": 0}), text, S) is None
    assert plain.loads(form, text, "another schema") is None  # made by other code


def test_the_form_makes_no_class_but_the_playbook_models() -> None:
    pb, text = bundled_playbook()
    data = json.loads(plain.dumps(pb, text, S))

    def swap(name: str) -> str:
        edited = json.dumps(data).replace(
            '"$m": "leadgate.playbook.model:FitSection"', f'"$m": "{name}"', 1
        )
        assert edited != json.dumps(data)
        return edited

    for name in ("builtins:object", "leadgate.engine.engine:Engine", "os:system", "x"):
        assert plain.loads(swap(name), text, S) is None
    # A field too many or too few is not trusted either.
    extra = json.dumps(data).replace('"f": {', '"f": {"evil": 1, ', 1)
    assert plain.loads(extra, text, S) is None
    # The root must be a Playbook.
    root = {**data, "playbook": data["playbook"]["f"]["fit"]}
    assert plain.loads(json.dumps(root), text, S) is None


def test_what_json_cannot_hold_exactly_is_refused() -> None:
    with pytest.raises(plain.Unplain):
        plain._dump({1: "x"})
    with pytest.raises(plain.Unplain):
        plain._dump({"a"})
    with pytest.raises(plain.Unplain):
        plain._dump(object())


def test_the_fingerprint_covers_every_module_the_schema_imports() -> None:
    # A new module under the models' imports must join SCHEMA_MODULES, or a change to it
    # would not retire the plain forms it made.
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, leadgate.playbook.model\nprint('\\n'.join(sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    files = set()
    for name in out:
        if name.startswith("leadgate."):
            module = sys.modules.get(name) or __import__(name, fromlist=["_"])
            path = Path(module.__file__ or "")
            files.add(path.relative_to(Path(plain.__file__).parents[1]).as_posix())
    assert files - {"__init__.py", "playbook/__init__.py"} <= set(plain.SCHEMA_MODULES)


def test_the_store_keeps_the_form_and_reads_it_back(engine) -> None:
    from leadgate.engine.engine import Engine
    from leadgate.store.repository import Repository

    changed = BUNDLED.replace("points: 20", "points: 21", 1)
    assert changed != BUNDLED
    version = engine.activate_playbook(changed, "test")[0]

    def stored(v: int) -> Playbook | None:
        fresh = Engine(engine.db, clock=engine.clock)  # nothing cached
        with engine.db.read() as conn:
            return fresh.stored_playbook(Repository(engine.db, conn), v)

    def column(v: int) -> str | None:
        with engine.db.read() as conn:
            row = Repository(engine.db, conn).execute(
                "SELECT plain FROM playbooks WHERE version = ?", [v]
            )
            return row.fetchone()[0]  # type: ignore[no-any-return]

    def set_column(v: int, value: str | None) -> None:
        with engine.db.write() as conn:
            Repository(engine.db, conn).execute(
                "UPDATE playbooks SET plain = ? WHERE version = ?", [value, v]
            )

    for v, text in ((1, BUNDLED), (version, changed)):
        assert column(v) is not None  # written when the version was stored
        same(load_playbook(text), stored(v))
    # A version without a plain form (older stores, a form that could not be written) or
    # with one made from other YAML is read by validating its YAML.
    set_column(version, None)
    same(load_playbook(changed), stored(version))
    set_column(version, column(1))
    same(load_playbook(changed), stored(version))
    assert stored(version + 1) is None
    # `leadgate init` (and the server's start) writes the active version's form again.
    engine.ensure_playbook()
    assert plain.loads(column(version), changed, schema_fingerprint()) is not None
    assert column(1) is not None
    set_column(1, None)
    engine.ensure_playbook()
    assert column(1) is None  # only the active version's


def test_the_first_write_mends_a_stale_form(engine) -> None:
    """A store upgraded by new code (its plain form made by other code) is mended by the
    first event batch a process writes, not only by `leadgate init` or the server's start:
    until then every read validated the YAML again."""
    from leadgate.engine.engine import Engine
    from leadgate.ingest.validate import parse_event
    from leadgate.store.repository import Repository

    def column() -> str | None:
        with engine.db.read() as conn:
            row = Repository(engine.db, conn).execute(
                "SELECT plain FROM playbooks WHERE version = 1"
            )
            return row.fetchone()[0]  # type: ignore[no-any-return]

    with engine.db.write() as conn:
        Repository(engine.db, conn).execute("UPDATE playbooks SET plain = NULL WHERE version = 1")
    fresh = Engine(engine.db, clock=engine.clock)  # a new process: nothing compiled yet
    now = engine.clock()
    fresh.ingest([parse_event({"email": "a@example.com", "type": "page_view"}, now)], now)
    assert plain.loads(column(), BUNDLED, schema_fingerprint()) is not None
    # Compiled once: later batches of the same process neither read nor write it again.
    with engine.db.write() as conn:
        Repository(engine.db, conn).execute("UPDATE playbooks SET plain = NULL WHERE version = 1")
    fresh.ingest([parse_event({"email": "b@example.com", "type": "page_view"}, now)], now)
    assert column() is None


def test_the_migration_fills_the_forms_of_stored_versions(sqlite_url) -> None:
    from alembic import command

    from leadgate.engine.engine import Engine
    from leadgate.store.database import Database
    from leadgate.store.repository import Repository

    db = Database(sqlite_url)
    Engine(db).ensure_playbook()
    with db.engine.begin() as conn:
        command.downgrade(db._alembic(conn), "0016_visitor_retention")
        assert "plain" not in {c[1] for c in conn.exec_driver_sql("PRAGMA table_info(playbooks)")}
    db.migrate()
    with db.read() as conn:
        repo = Repository(db, conn)
        row = repo.execute("SELECT yaml, plain FROM playbooks WHERE version = 1").fetchone()
    rebuilt = plain.loads(row[1], row[0], schema_fingerprint())
    assert rebuilt is not None
    same(load_playbook(BUNDLED), rebuilt)
    db.dispose()
