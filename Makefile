# leadgate - `make run` and `make test` work on a fresh machine with Python 3.11, git and make.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: install run demo test lint typecheck pytest bench clean serve

# Every `make` target starts several Python processes (`make run`: the demo, the key, the
# user, the server; `make test`: servers and CLI runs in subprocesses). With
# PYTHONDONTWRITEBYTECODE set in the environment each of them compiles every module it
# imports again (~2 s of a CLI start on a loaded machine instead of ~0.1 s); letting the
# first one write the bytecode cache under .venv/ and src/ (both git-ignored) saves that.
unexport PYTHONDONTWRITEBYTECODE

# Installing is most of a first `make run`, so it is done by uv from uv.lock (the versions
# CI and every `make` install; pyproject.toml keeps the lower bounds): seconds instead of a
# minute of pip. uv itself is one pip install (below); pip does the whole job when uv
# cannot be had. `make run` installs what running needs; `make test` adds the test tools
# and pyspark. A stamp per set: nothing is reinstalled until pyproject.toml or uv.lock change.
RUN_STAMP  := $(VENV)/.run.stamp
TEST_STAMP := $(VENV)/.test.stamp

# No pip in the venv: ensurepip byte-compiles ~1,000 files of a pip that uv makes unneeded
# (~3 s of a first `make run` on a quiet machine, 25 s on a busy one). uv is put in by the
# system's pip (`pip --python`); only when there is none does the venv get a pip of its own.
$(BIN)/python:
	$(PYTHON) -m venv --without-pip $(VENV) || python3 -m venv --without-pip $(VENV)

# --locked refuses a uv.lock that no longer matches pyproject.toml (run `uv lock`);
# --inexact keeps uv itself, which is not in the lock, in the venv.
PIP_QUIET := --quiet --disable-pip-version-check
define venv_pip
	$(BIN)/python -m pip --version >/dev/null 2>&1 || $(BIN)/python -m ensurepip --upgrade >/dev/null
endef
define install_set
	@if [ -x $(BIN)/uv ] \
		|| $(PYTHON) -m pip --python $(BIN)/python install $(PIP_QUIET) uv 2>/dev/null \
		|| { $(venv_pip) && $(BIN)/python -m pip install $(PIP_QUIET) uv 2>/dev/null; }; then \
		$(BIN)/uv sync --quiet --locked --inexact --python $(BIN)/python $(1); \
	else \
		echo "uv unavailable: installing with pip (slower)"; \
		$(venv_pip); \
		$(BIN)/python -m pip install $(PIP_QUIET) -e '.$(2)'; \
	fi
endef

$(RUN_STAMP): pyproject.toml uv.lock | $(BIN)/python
	$(call install_set,,)
	@touch $@

$(TEST_STAMP): $(RUN_STAMP)
	$(call install_set,--extra dev --extra spark,[dev,spark])
	@touch $@

install: $(RUN_STAMP)

# The demo store, then the API and the web app on it until Ctrl-C (API docs at
# http://127.0.0.1:8000/docs, the app at http://127.0.0.1:8000/login).
run: demo
	@echo "admin API key for this demo store (shown once):"
	@$(BIN)/leadgate --db sqlite:///demo.db keys create --role admin --name "make run"
	@echo "web app: http://127.0.0.1:$(PORT)/login as 'admin' with this password (shown once):"
	@$(BIN)/leadgate --db sqlite:///demo.db users add admin --role admin
	$(BIN)/leadgate --db sqlite:///demo.db serve --host 127.0.0.1 --port $(PORT)

PORT ?= 8000

# Build the demo store and print the funnel and the MQL queue, without serving.
demo: install
	$(BIN)/leadgate --db sqlite:///demo.db demo --reset

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(TEST_STAMP)
	$(BIN)/mypy

# The suite runs on one pytest-xdist worker per core (`-n auto`; PYTEST_WORKERS=4 to choose).
# --dist loadfile keeps each test file on one worker, so a file's module fixtures (a demo
# store, a server, a Chromium) are built once; every worker starts its own throwaway
# PostgreSQL cluster (tests/conftest.py). One file alone: `pytest -q tests/x.py` (no -n).
# Files go out in collection order, the slowest first (SLOW_FILES_FIRST in tests/conftest.py:
# xdist's default order, most tests first, started a 2-minute Spark file last).
# --durations=20: every run's log names the slowest tests, where CI time goes.
PYTEST_WORKERS ?= auto
pytest: $(TEST_STAMP)
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=20

test: lint typecheck pytest

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/rescore.py
	$(BIN)/python bench/latency.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis demo.db*
