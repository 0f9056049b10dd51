# leadgate - `make run` and `make test` work on a fresh machine with Python 3.11, git and make.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.install.stamp

.PHONY: install run demo test lint typecheck pytest bench clean serve

# Reinstall only when the dependency list changes: quick when nothing did.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# What only the tests need on top: pyspark (Spark runs when a Java runtime is present).
TEST_STAMP := $(VENV)/.test-install.stamp
$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	@touch $(TEST_STAMP)

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

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install
	$(BIN)/mypy

pytest: install $(TEST_STAMP)
	$(BIN)/python -m pytest -q

test: lint typecheck pytest

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/rescore.py
	$(BIN)/python bench/latency.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis demo.db*
