"""Property-based fuzzing of the whole OpenAPI surface (schemathesis): valid and invalid
inputs, with an admin key, never give a 5xx, and every error is problem+json."""

from __future__ import annotations

import contextlib
import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from leadgate.api import create_app
from leadgate.engine.engine import Engine
from leadgate.keys import create_key

# Modest by default so the API suite stays quick; raise it for a deep run.
EXAMPLES = int(os.environ.get("LEADGATE_FUZZ_EXAMPLES", "12"))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_input_gives_a_server_error(engine: Engine, mode: GenerationMode) -> None:
    app = create_app(engine=engine)
    _, key = create_key(engine.db, "admin", "fuzz")
    auth = {"Authorization": f"Bearer {key}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    for result in schema.get_all_operations():
        op = result.ok()
        # Unsatisfiable: nothing invalid to send (an operation without inputs).
        with contextlib.suppress(Unsatisfiable):
            _fuzz(op, op.as_strategy(generation_mode=mode), auth, failures)
    assert not failures, "\n".join(failures[:10])


def _fuzz(op: Any, strategy: Any, auth: dict[str, str], failures: list[str]) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        case = data.draw(strategy)
        resp = case.call(headers=auth)
        if resp.status_code >= 500:
            failures.append(
                f"{op.label}: {resp.status_code} for {case.body!r} {case.query!r} "
                f"{case.path_parameters!r}"
            )
        elif resp.status_code >= 400:
            ctype = resp.headers.get("content-type", [""])[0]
            assert ctype == "application/problem+json", (op.label, resp.text)
        # As bytes: an answer may be binary (GET /leads/export?format=parquet).
        assert b"Traceback" not in resp.content

    run()
