# Two commands do all set-up: `make demo` and `make test` (both install into .venv when needed).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
WORKERS ?= 2
export DAGSTER_HOME := $(CURDIR)/.dagster_home
export DAGSTER_DISABLE_TELEMETRY := 1
export DVC_NO_ANALYTICS := 1

.PHONY: install demo test test-fast ui lint bench bench-quick gpu-bundle clean-data cluster cluster-stop

# dagster-postgres/-celery/-k8s 0.29.27 declare dagster==1.13.27: installed apart (docs/deploy.md)
$(BIN)/.installed: pyproject.toml deploy/requirements-cluster.txt deploy/requirements-cluster-nodeps.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet -r deploy/requirements-cluster.txt
	$(BIN)/pip install --quiet --no-deps -r deploy/requirements-cluster-nodeps.txt
	touch $@

$(DAGSTER_HOME)/dagster.yaml:
	mkdir -p $(DAGSTER_HOME)
	printf 'telemetry:\n  enabled: false\nrun_monitoring:\n  enabled: true\n  start_timeout_seconds: 600\n  poll_interval_seconds: 120\n' > $@

install: $(BIN)/.installed $(DAGSTER_HOME)/dagster.yaml

demo: install  ## data assets and the Phase 1 models at the smoke level, the leaderboard, then a summary
	$(BIN)/matassets run phase1 --level smoke
	$(BIN)/matassets materialize --asset model_leaderboard
	$(BIN)/matassets summary --level smoke

# Two pytest workers, one per core, each training on one thread; a test file stays on one worker
# (the live-cluster tests share one RabbitMQ, the session fixtures are built once per worker).
TEST_WORKERS ?= 2
PYTEST = MATASSETS_THREADS=1 $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test: install  ## the whole suite, with the 15 slowest tests listed
	$(PYTEST) --durations=15

test-fast: install  ## everything but trainings and subprocesses (marker slow): about a minute
	$(PYTEST) -m "not slow" --durations=10

ui: install  ## the Dagster UI on http://127.0.0.1:3000 (this project's DAGSTER_HOME), behind the request guard
	$(BIN)/matassets ui --host 127.0.0.1 --port 3000

cluster: install  ## UI + daemon + $(WORKERS) Celery workers on PostgreSQL and RabbitMQ (docs/deploy.md)
	DAGSTER_HOME=$(CURDIR)/.cluster/home $(BIN)/matassets cluster up --workers $(WORKERS)

cluster-stop:  ## stop exactly the processes `make cluster` started (pid files in .cluster/run/)
	$(BIN)/matassets cluster down

lint: install
	$(BIN)/ruff check matassets matassets_tests bench
	$(BIN)/ruff format --check matassets matassets_tests bench

bench: install  ## every benchmark, full size; rewrites the generated block of docs/benchmarks.md
	$(BIN)/python -m bench.run

bench-quick: install  ## the same benchmarks, smaller (a few minutes on 2 cores); same block
	$(BIN)/python -m bench.run --quick

gpu-bundle: install  ## the wheels a lent GPU machine lacks, for bench.gpu.levels: artifacts/gpu/ (docs/benchmarks.md)
	$(BIN)/python -m bench.gpu.bundle
