# riskguard: `make demo` and `make test` each create .venv and install what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck unit bench efficacy chaos chaos-long clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "riskguard needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(VENV)/.runtime $@

demo: $(VENV)/.runtime
	$(BIN)/riskguard run config/paper-demo.yaml

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache --no-logo

typecheck: $(VENV)/.dev
	$(BIN)/mypy

# One pytest worker per core (work stealing keeps the long crash replays from idling a core).
# Tests marked slow (the crash replays outside the suite's sample) run in `make efficacy`.
unit: $(VENV)/.dev
	$(BIN)/python -m pytest -n auto --dist worksteal -m "not slow" --cov --cov-report=term-missing

test: lint typecheck unit

bench: $(VENV)/.runtime
	$(BIN)/python bench/risk_core.py
	$(BIN)/python bench/paper.py
	$(BIN)/python bench/cycle.py
	$(BIN)/python bench/replay_speed.py

# Every crash case of the test suite (the sample `make test` runs and the slow rest), then the
# grid, about 80 minutes on 2 cores: every crash file x leverage x side x poll interval.
efficacy: $(VENV)/.dev
	$(BIN)/python -m pytest -n auto --dist worksteal tests/replay/test_crashes.py
	$(BIN)/python bench/efficacy.py

# The daemon against fake Binance servers with seeded faults and random SIGKILLs (tests/chaos).
# Short form (what .ci/run runs): the regression seeds and one more, about 90 s each.
chaos: $(VENV)/.dev
	$(BIN)/python -m tests.chaos

# Long form: 12 episodes of 3 minutes, 6 accounts each (about 45 minutes).
chaos-long: $(VENV)/.dev
	$(BIN)/python -m tests.chaos --long -v

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .coverage
