"""Issue 16, "What broke on import": each item as the test that would have caught it.

The corpus (test_corpus.py) checks whole files; these check the rules one at a time:
the grade a German Head of Marketing gets, formats the data cannot decide (exit 2 and
the flags that settle them), a later import by record id, stage moves the graph refuses
and guards that are reported but not enforced.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from leadgate.cli.main import app
from leadgate.engine.engine import Engine
from leadgate.ingest.crm import stage_for
from leadgate.ingest.formats import Survey, number_vote
from leadgate.ingest.leads_file import LeadImportOptions, import_leads
from leadgate.ingest.money import split_money
from leadgate.ingest.sniff import choose_delimiter
from leadgate.sales import install
from leadgate.sales.import_owners import ImportOwners

CORPUS = Path(__file__).parent / "corpus"
HUBSPOT = (
    "Record ID,First Name,Email,Contact owner,Lifecycle Stage,Lead Status,Job Title,"
    "Country/Region,Number of Employees\n"
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_head_of_marketing_at_a_5000_person_german_company_gets_her_fit(
    engine: Engine, tmp_path: Path
) -> None:
    # Before: "Germany" stayed text and "5.000" (a semicolon export) became 5, so only the
    # title counted: fit 20, grade C. The bundled playbook means 20 + 10 + 10 = 40 (B).
    path = write(
        tmp_path / "hs.csv",
        "Record ID;Email;Job Title;Country/Region;Number of Employees;Annual Revenue\n"
        "7;greta@kraftwerk.de;Head of Marketing;Germany;5.000;2,5 Mio €\n",
    )
    import_leads(engine, path)
    lead = engine.show("greta@kraftwerk.de")
    rules = {line["rule"] for line in lead["explanation"] if line["score"] == "fit"}
    assert {"senior title", "company size over 1000", "target country"} <= rules
    assert (lead["fit"], lead["fit_grade"]) == (40, "B")
    assert lead["attributes"]["annual_revenue"] == 2_500_000
    assert lead["attributes"]["annual_revenue_currency"] == "EUR"


def test_the_delimiter_is_decided_by_the_body_not_the_header_alone() -> None:
    # One column in the header: nothing to count there. The body says ';'.
    assert choose_delimiter("email\na@x.io;Acme, Inc\nb@x.io;Beta\n") == ";"
    assert choose_delimiter('email,title\na@x.io,"Head of ""Growth"", EMEA"\n') == ","


@pytest.mark.parametrize(
    ("digits", "mark"),
    [("1.234,5", ","), ("2,5", ","), ("1.200.000", ","), ("12.75", "."), ("0,125", ",")]
    + [("1,200,000", "."), ("1.200", None), ("1,200", None), ("1200", None)],
)
def test_what_one_number_proves_about_the_decimal_mark(digits: str, mark: str | None) -> None:
    assert number_vote(digits) == mark


def test_amounts_split_into_digits_currency_and_multiplier() -> None:
    assert split_money("$1,200,000") == ("1,200,000", "USD", 1.0)
    assert split_money("1.2M") == ("1.2", None, 1e6)
    assert split_money("€1,2 Mio") == ("1,2", "EUR", 1e6)
    assert split_money("2 Mrd. CHF") == ("2", "CHF", 1e9)
    assert split_money("unknown") is None
    assert split_money("abc 12") is None


def test_a_column_whose_numbers_disagree_with_nothing_asks_for_decimal() -> None:
    s = Survey({"annual_revenue": ("Annual Revenue", "money")})
    s.add("annual_revenue", "1,500", 2)
    with pytest.raises(ValueError, match="--decimal"):
        s.decide(",")
    # A semicolon file comes from a decimal-comma locale; --decimal settles it anyway.
    assert s.decide(";")["annual_revenue"].decimal == ","
    assert s.decide(",", decimal=".")["annual_revenue"].decimal == "."


def test_dates_that_contradict_each_other_stop_the_import() -> None:
    s = Survey({"created_at": ("Create Date", "date")})
    s.add("created_at", "15/03/2026", 2)
    s.add("created_at", "03/15/2026", 3)
    with pytest.raises(ValueError, match="disagree"):
        s.decide(",")


def test_the_cli_stops_and_asks_then_follows_the_flag(sqlite_url: str) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["init", "--db", sqlite_url]).exit_code == 0
    path = str(CORPUS / "dates_ambiguous.csv")
    r = runner.invoke(app, ["lead", "import", path, "--db", sqlite_url])
    assert r.exit_code == 2
    assert "--date-order dmy" in r.stderr and "line 2" in r.stderr
    r = runner.invoke(app, ["lead", "list", "--db", sqlite_url, "--json"])
    assert orjson.loads(r.stdout) == []
    r = runner.invoke(
        app, ["lead", "import", path, "--db", sqlite_url, "--date-order", "mdy", "--json"]
    )
    assert r.exit_code == 0, r.output
    report = orjson.loads(r.stdout)
    assert report["decisions"]["columns"]["Create Date"]["date_order"] == "mdy"
    assert report["created"] == 2 and "read" in report and "rejects_path" in report
    shown = runner.invoke(app, ["lead", "show", "a@x.io", "--db", sqlite_url, "--json"])
    assert orjson.loads(shown.stdout)["created_at"] == "2026-03-04T00:00:00Z"
    bad = runner.invoke(app, ["lead", "import", path, "--db", sqlite_url, "--date-order", "x"])
    assert bad.exit_code == 2 and "--date-order" in bad.stderr
    text = runner.invoke(
        app, ["lead", "import", str(CORPUS / "semicolon_decimal_comma.csv"), "--db", sqlite_url]
    )
    assert text.exit_code == 0, text.output
    assert "read as utf-8 (valid UTF-8), semicolon-separated" in text.stdout
    assert "Annual Revenue: decimal mark ','" in text.stdout


def test_a_later_import_updates_by_record_id_and_never_duplicates(
    engine: Engine, tmp_path: Path
) -> None:
    first = write(
        tmp_path / "hs.csv",
        HUBSPOT + "52,James,james@northwind.com,,Customer,,VP Sales,United States,1200\n",
    )
    report = import_leads(engine, first)
    assert report.crm["external_ids_bound"] == 1 and report.crm["stages_imported"] == 1
    again = import_leads(engine, first)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)
    assert again.crm["stages_imported"] == 0 and again.crm["external_ids_bound"] == 0
    # His email changed in HubSpot; the record id still names him.
    moved = write(
        tmp_path / "hs2.csv",
        HUBSPOT + "52,James,j.carter@northwind.com,,Customer,,CEO,United States,1200\n",
    )
    later = import_leads(engine, moved)
    assert later.created == 0 and later.updated == 1
    assert later.crm["matched_by_external_id"] == 1
    assert any(
        "hubspot id 52 was james@northwind.com: its email is now j.carter@northwind.com" in w
        for w in later.warnings
    )
    assert [r["email"] for r in engine.list_leads()] == ["j.carter@northwind.com"]
    james = engine.show("j.carter@northwind.com")
    assert james["attributes"]["job_title"] == "CEO" and james["stage"] == "customer"
    assert [h["to"] for h in james["history"]] == ["customer"]
    # An address that is another lead here is not taken: no import merges two leads.
    import_leads(engine, write(tmp_path / "x.csv", HUBSPOT + "9,X,x@acme.com,,,,CTO,US,10\n"))
    clash = write(tmp_path / "hs3.csv", HUBSPOT + "52,James,x@acme.com,,Customer,,CFO,US,1200\n")
    report = import_leads(engine, clash)
    assert any("x@acme.com is another lead here" in w for w in report.warnings)
    assert engine.show("j.carter@northwind.com")["attributes"]["job_title"] == "CFO"
    assert engine.show("x@acme.com")["attributes"]["job_title"] == "CTO"
    # The same id from another system is another record: bound on its own, the lead
    # found by email.
    other = import_leads(engine, moved, options=LeadImportOptions(source="zoho"))
    assert other.created == 0 and other.crm["external_ids_bound"] == 1
    assert other.crm["matched_by_external_id"] == 0


def test_a_stage_the_graph_refuses_is_reported_and_not_made(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", HUBSPOT + "1,Ann,ann@acme.com,,Customer,,CTO,DE,50\n")
    import_leads(engine, path)
    back = write(
        tmp_path / "b.csv", HUBSPOT + "1,Ann,ann@acme.com,,Marketing Qualified Lead,,CTO,DE,50\n"
    )
    report = import_leads(engine, back)
    assert report.crm["stages_imported"] == 0
    assert any("cannot move from 'customer' to 'mql'" in w for w in report.warnings)
    assert engine.show("ann@acme.com")["stage"] == "customer"


def test_guards_are_reported_not_enforced(engine: Engine, tmp_path: Path) -> None:
    owners = ImportOwners(install(engine))
    sal = write(tmp_path / "a.csv", HUBSPOT + "1,Ann,ann@acme.com,,Lead,In Progress,CTO,DE,50\n")
    import_leads(engine, sal, options=LeadImportOptions(owners=owners))
    assert engine.show("ann@acme.com")["stage"] == "sal"
    sql = write(
        tmp_path / "b.csv", HUBSPOT + "1,Ann,ann@acme.com,,Sales Qualified Lead,,CTO,DE,50\n"
    )
    report = import_leads(engine, sql, options=LeadImportOptions(owners=owners))
    # BANT is not passed: a person could not make this move, the other system did.
    assert any("moved to sql although: cannot move to 'sql'" in w for w in report.warnings)
    shown = engine.show("ann@acme.com")
    assert shown["stage"] == "sql"
    assert shown["history"][-1]["actor"] == "import:b.csv"
    assert shown["history"][-1]["reason"] == "imported"


def test_owners_match_reps_by_email_name_or_address_and_unknown_ones_are_listed(
    engine: Engine, tmp_path: Path
) -> None:
    sales = install(engine)
    sales.add_rep("anna", "bdr", email="anna.schmidt@ourco.com")
    owners = ImportOwners(sales)
    assert owners.match("Anna Schmidt") == "anna"
    assert owners.match("ANNA.SCHMIDT@ourco.com") == "anna"
    assert owners.match(" anna ") == "anna"
    assert owners.match("Carla") is None
    path = write(
        tmp_path / "o.csv",
        HUBSPOT
        + "1,Ann,ann@acme.com,Anna Schmidt,Lead,,CTO,DE,50\n"
        + "2,Bo,bo@acme.com,Carla Nobody,Lead,,CTO,DE,50\n",
    )
    report = import_leads(engine, path, options=LeadImportOptions(owners=owners))
    assert report.crm["owners_assigned"] == 1
    assert report.crm["unknown_owners"] == {"Carla Nobody": 1}
    assert engine.show("ann@acme.com")["owner"] == "anna"
    assert engine.show("bo@acme.com")["owner"] is None


@pytest.mark.parametrize(
    ("lifecycle", "status", "stage"),
    [
        ("Customer", None, "customer"),
        ("Lead", "Unqualified", "disqualified"),
        ("Marketing Qualified Lead", "In Progress", "sal"),
        ("Sales Qualified Lead", "In Progress", "sql"),
        (None, "Closed - Converted", "sql"),
        (None, "Open - Not Contacted", None),
        ("Subscriber", None, None),
    ],
)
def test_crm_stage_values(lifecycle: str | None, status: str | None, stage: str | None) -> None:
    assert stage_for(lifecycle, status)[0] == stage


def test_columns_leadgate_computes_are_not_imported_as_fields(
    engine: Engine, tmp_path: Path
) -> None:
    # A file exported from leadgate: its scores and stage come back as what they are.
    path = write(
        tmp_path / "export.csv",
        "email,stage,owner,score,fit,grade,email_domain,job_title\n"
        "ann@acme.com,sql,,95,40,B1,acme.com,CTO\n",
    )
    report = import_leads(engine, path)
    assert report.decisions["ignored_columns"] == ["score", "fit", "grade", "email_domain"]
    shown = engine.show("ann@acme.com")
    assert shown["stage"] == "sql" and shown["attributes"]["job_title"] == "CTO"
    assert not {"score", "fit", "grade", "stage"} & set(shown["attributes"])


def test_an_overlong_record_id_or_country_is_skipped_and_the_lead_lands(
    engine: Engine, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "long.csv",
        HUBSPOT + f"{'9' * 300},Ann,ann@acme.com,,Lead,,CTO,{'x' * 10_001},50\n",
    )
    report = import_leads(engine, path)
    assert (report.accepted, report.rejected, report.values_skipped) == (1, 0, 2)
    assert {s.split(": ")[1] for s in report.skipped} == {"Record ID", "Country/Region"}
    assert report.crm["external_ids_bound"] == 0
    assert "country" not in engine.show("ann@acme.com")["attributes"]


def test_an_impossible_date_decides_nothing_and_is_skipped(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "Email,Create Date\na@x.io,13/13/2026\nb@x.io,2026-01-02\n")
    report = import_leads(engine, path)
    assert report.created == 2 and report.values_skipped == 1
    assert report.skipped[0].startswith("line 2: Create Date: '13/13/2026'")


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark_is_recognised(codec: str) -> None:
    from leadgate.ingest.sniff import detect_encoding

    head = "Email,Company\r\nann@acme.com,Müller AG\r\n".encode(codec)
    assert detect_encoding(head)[0] == codec
    assert detect_encoding(b"email\n\x00a@x.io\n")[0] == "utf-8"  # a stray NUL is not UTF-16


def test_latin1_beyond_the_first_64_kb_is_still_latin1(engine: Engine, tmp_path: Path) -> None:
    rows = "".join(f"u{i}@acme.com,Acme {i}\n" for i in range(4000))  # ~80 KB of ASCII
    path = tmp_path / "late.csv"
    path.write_bytes(("Email,Company\n" + rows + "zoe@x.fr,Café Zoë\n").encode("latin-1"))
    report = import_leads(engine, path)
    assert report.rejected == 0 and report.decisions["encoding"] == "cp1252"
    assert engine.show("zoe@x.fr")["attributes"]["company"] == "Café Zoë"
