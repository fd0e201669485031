# Two commands do all set-up: `make demo` and `make test` (both install into .venv when needed).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME := $(CURDIR)/.dagster_home
export DAGSTER_DISABLE_TELEMETRY := 1
export DVC_NO_ANALYTICS := 1

.PHONY: install demo test ui lint bench bench-quick clean-data

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

$(DAGSTER_HOME)/dagster.yaml:
	mkdir -p $(DAGSTER_HOME)
	printf 'telemetry:\n  enabled: false\n' > $@

install: $(BIN)/.installed $(DAGSTER_HOME)/dagster.yaml

demo: install  ## data assets and the Phase 1 models at the smoke level, the leaderboard, then a summary
	$(BIN)/matassets run phase1 --level smoke
	$(BIN)/matassets materialize --asset model_leaderboard
	$(BIN)/matassets summary --level smoke

test: install
	$(BIN)/python -m pytest -q

ui: install  ## the Dagster UI on http://127.0.0.1:3000 (this project's DAGSTER_HOME), behind the request guard
	$(BIN)/matassets ui --host 127.0.0.1 --port 3000

lint: install
	$(BIN)/ruff check matassets matassets_tests bench
	$(BIN)/ruff format --check matassets matassets_tests bench

bench: install  ## every benchmark, full size; rewrites the generated block of docs/benchmarks.md
	$(BIN)/python -m bench.run

bench-quick: install  ## the same benchmarks, smaller (a few minutes on 2 cores); same block
	$(BIN)/python -m bench.run --quick
