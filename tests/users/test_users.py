"""Users, passwords, sessions and the sign-in rate limit, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from leadgate.engine.engine import Engine
from leadgate.ingest.validate import InputError
from leadgate.sales import install
from leadgate.users import LoginRefused, UserNotFound, Users, csrf_matches
from leadgate.users.passwords import _hasher as REAL_HASHER
from leadgate.users.service import FAILURE_WINDOW, MAX_FAILURES_PER_NAME, SESSION_SECONDS

PW = "correct horse battery staple"


@pytest.fixture
def users(engine: Engine, clock) -> Users:
    return Users(engine.db, clock=clock)


def test_add_stores_an_argon2_hash_and_the_password_signs_in(users: Users, engine: Engine) -> None:
    user, made = users.add("Anna", "sales", password=PW, actor="user:root")
    assert made is None and user.name == "anna" and user.actor == "user:anna"
    with engine.db.read() as conn:
        stored = conn.exec_driver_sql("SELECT password_hash FROM users").scalar_one()
    assert stored.startswith("$argon2id$") and PW not in stored
    assert users.authenticate("ANNA ", PW).id == user.id


def test_production_hashing_cost_meets_owasp_minimums() -> None:
    # The module's own hasher as imported (the autouse fixture swaps in a cheap one for
    # the other tests). OWASP: Argon2id with at least 19 MiB and 2 passes.
    assert REAL_HASHER.type.name == "ID"
    assert REAL_HASHER.memory_cost >= 19 * 1024 and REAL_HASHER.time_cost >= 2
    assert REAL_HASHER.hash("x" * 12).startswith("$argon2id$")


def test_a_generated_password_is_returned_once_and_works(users: Users) -> None:
    _user, made = users.add("bo", "marketing")
    assert made is not None and len(made) >= 20
    assert users.authenticate("bo", made).name == "bo"
    _other_user, other = users.add("carl", "admin")
    assert other != made


@pytest.mark.parametrize(
    ("name", "role", "password", "field"),
    [
        ("", "sales", PW, "name"),
        ("anna smith", "sales", PW, "name"),
        ("<b>x</b>", "sales", PW, "name"),
        ("anna", "ingest", PW, "role"),
        ("anna", "sales", "short", "password"),
        ("anna", "sales", PW + "\n", "password"),
    ],
)
def test_bad_input_names_the_field(users: Users, name, role, password, field) -> None:
    with pytest.raises(InputError) as exc:
        users.add(name, role, password=password)
    assert exc.value.field == field
    assert users.list_users() == []


def test_a_name_is_taken_once_and_a_rep_must_exist(users: Users, engine: Engine) -> None:
    users.add("anna", "sales", password=PW)
    with pytest.raises(InputError, match="exists already"):
        users.add("ANNA", "admin", password=PW)
    with pytest.raises(InputError, match="no sales rep named 'anna'"):
        users.add("anna2", "sales", rep="anna", password=PW)
    install(engine).add_rep("anna", "bdr")
    assert users.add("anna2", "sales", rep="anna", password=PW)[0].rep == "anna"


def test_wrong_password_unknown_name_and_disabled_user_get_the_same_answer(users: Users) -> None:
    users.add("anna", "sales", password=PW)
    users.add("bo", "sales", password=PW)
    users.disable("bo")
    messages = set()
    for name, pw in (("anna", PW + "x"), ("nobody", PW), ("bo", PW)):
        with pytest.raises(LoginRefused) as exc:
            users.authenticate(name, pw, client="c1")
        messages.add(str(exc.value))
    assert messages == {"wrong name or password"}


def test_the_rate_limit_refuses_even_the_right_password_until_the_window_passes(
    users: Users, clock
) -> None:
    users.add("anna", "sales", password=PW)
    for _ in range(MAX_FAILURES_PER_NAME):
        with pytest.raises(LoginRefused, match="wrong"):
            users.authenticate("anna", "guess guess guess", client=f"c{_}")
        clock.advance(1)
    with pytest.raises(LoginRefused, match="too many") as exc:
        users.authenticate("anna", PW, client="elsewhere")
    assert exc.value.retry_after is not None and exc.value.retry_after > 0
    # Another name from the same clients is not affected.
    users.add("bo", "sales", password=PW)
    assert users.authenticate("bo", PW, client="c0").name == "bo"
    clock.advance(FAILURE_WINDOW)
    assert users.authenticate("anna", PW).name == "anna"


def test_a_success_clears_the_failures_of_the_name(users: Users) -> None:
    users.add("anna", "sales", password=PW)
    for _ in range(MAX_FAILURES_PER_NAME - 1):
        with pytest.raises(LoginRefused):
            users.authenticate("anna", "guess guess guess")
    users.authenticate("anna", PW)
    with pytest.raises(LoginRefused, match="wrong"):
        users.authenticate("anna", "guess guess guess")  # counted from zero again


def test_sessions_end_on_sign_out_everywhere_disable_reset_and_expiry(users: Users, clock) -> None:
    anna, _ = users.add("anna", "sales", password=PW)
    bo, _ = users.add("bo", "sales", password=PW)
    t1, t2, tb = users.start_session(anna), users.start_session(anna), users.start_session(bo)
    found = users.session(t1)
    assert found is not None and found[0].name == "anna"
    assert users.session(t1 + "x") is None and users.session("") is None
    users.end_session(t1)
    assert users.session(t1) is None and users.session(t2) is not None
    assert users.end_all_sessions(anna.id) == 1
    assert users.session(t2) is None and users.session(tb) is not None

    t3 = users.start_session(anna)
    users.reset_password("anna", PW + "!")
    assert users.session(t3) is None
    t4 = users.start_session(bo)
    users.disable("bo")
    assert users.session(t4) is None and users.session(tb) is None

    t5 = users.start_session(anna)
    clock.advance(SESSION_SECONDS - 1)
    assert users.session(t5) is not None
    clock.advance(1)
    assert users.session(t5) is None


def test_reset_password_generates_one_and_the_old_stops_working(users: Users) -> None:
    users.add("anna", "sales", password=PW)
    _, made = users.reset_password("anna")
    assert made is not None
    with pytest.raises(LoginRefused):
        users.authenticate("anna", PW)
    assert users.authenticate("anna", made).name == "anna"
    with pytest.raises(UserNotFound):
        users.reset_password("nobody")
    with pytest.raises(UserNotFound):
        users.disable("nobody")


def test_csrf_token_is_per_session(users: Users) -> None:
    anna, _ = users.add("anna", "sales", password=PW)
    s1 = users.session(users.start_session(anna))
    s2 = users.session(users.start_session(anna))
    assert s1 is not None and s2 is not None
    assert csrf_matches(s1[1], s1[1].csrf)
    assert not csrf_matches(s1[1], s2[1].csrf)
    assert not csrf_matches(s1[1], "") and not csrf_matches(s1[1], None)


def test_the_cookie_secret_is_made_once_per_store(users: Users, engine: Engine) -> None:
    first = users.secret()
    assert len(first) >= 40
    assert Users(engine.db).secret() == first
    assert users.secret("other") != first
