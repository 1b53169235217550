# One entry point. On a fresh machine:   make demo   (set up + run the warehouse)   and   make test
SHELL := /bin/bash
PYTHON ?= python3.11
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
SCALE ?= M
REPEAT ?= 1
DAYS ?= 2
BENCH_DAYS ?= 1
WORKER ?= warm
DEMO_FIRST_DATE ?= 2026-11-20
DEMO_DAYS ?= 3

.PHONY: setup demo test test-resilience test-all lint bench bench-ingest bench-profile bench-clv bench-segments bench-gates bench-shards bench-topology clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

# --compile-bytecode: every task and test process imports Airflow, dbt, GX and scikit-learn; with
# PYTHONDONTWRITEBYTECODE set (as on CI) nothing is cached, and compiling them costs more than the import
# (GX 30 s -> 11 s, Airflow 15 s -> 5 s, measured under load)
$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	touch $@

## setup: install the locked environment (uv, from uv.lock) and prepare the embedded Airflow
setup: $(VENV)/.synced
	bash scripts/install_chromium.sh
	source scripts/airflow_env.sh && bash scripts/airflow_setup.sh

## demo: generate S-scale sample data and run the daily DAG through Airflow for a few business dates
demo: setup
	DEMO_FIRST_DATE=$(DEMO_FIRST_DATE) DEMO_DAYS=$(DEMO_DAYS) bash scripts/demo.sh

## test: the CI suite (everything but the slow, on-demand tests), on two workers (pytest-xdist, one test file
## per worker at a time: a file's fixtures are built once); TEST_WORKERS=0 runs it in one process
TEST_WORKERS ?= 2
test: $(VENV)/.synced
	bash scripts/install_chromium.sh
	$(VENV)/bin/python -m pytest -m "not slow" -q -n $(TEST_WORKERS) --dist loadfile --durations=25

## test-resilience: every resilience test (kill -9 at every point, reruns, backfills, deliveries, readers, disk full)
test-resilience: $(VENV)/.synced
	$(VENV)/bin/python -m pytest -m resilience -q tests/resilience

## test-all: including the slow tests
test-all: $(VENV)/.synced
	$(VENV)/bin/python -m pytest -q

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check python_tasks dags tests benchmarks

## bench: the whole pipeline at SCALE (S, M or L), step by step, full and DAYS daily runs, with and without Airflow,
## against a one-pass DuckDB floor and a pandas reference over the same files; report in benchmarks/results/pipeline-<SCALE>.*
bench: $(VENV)/.synced
	$(VENV)/bin/python -m benchmarks.pipeline --scale $(SCALE) --days $(BENCH_DAYS)

## bench-ingest: ingestion benchmark at SCALE (S, M or L) against a bare DuckDB read of the same files
bench-ingest: $(VENV)/.synced
	$(VENV)/bin/python -m benchmarks.ingest --scale $(SCALE)

## bench-profile: client-profile build at SCALE: dbt full build, daily incremental and a hand-written SQL floor
bench-profile: $(VENV)/.synced
	$(VENV)/bin/python -m benchmarks.profile --scale $(SCALE)

## bench-clv: CLV engine at SCALE (S, M or L) against a per-client Python loop: time, peak memory, speed-up, agreement
bench-clv: $(VENV)/.synced
	$(VENV)/bin/python -m benchmarks.clv --scale $(SCALE)

## bench-segments: the daily segmentation (segment_portfolio) at SCALE on two consecutive dates: time per step, peak memory
## (REPEAT=N runs the daily step N times, the median is reported)
bench-segments: $(VENV)/.synced
	$(VENV)/bin/python -m benchmarks.segments --scale $(SCALE) --repeat $(REPEAT)

## bench-gates: the daily run at SCALE (initial load and DAYS daily deltas), each task in its own process: time and peak
## memory per stage and per data-quality gate, the gates' share of the pipeline (target at M: under 30 %); WORKER=warm
## forks each task from a preloaded worker as the Airflow scheduler does, WORKER=cold gives each a fresh interpreter
bench-gates: $(VENV)/.synced
	$(VENV)/bin/python -m benchmarks.gates --scale $(SCALE) --days $(DAYS) --worker $(WORKER)

## bench-shards: the CLV stage split into 1, 2 and 4 client shards (shards in parallel processes) against one process
bench-shards: $(VENV)/.synced
	$(VENV)/bin/python -m benchmarks.shards --scale $(SCALE)

## bench-topology: clv_daily on the CeleryExecutor against the LocalExecutor (PostgreSQL and Redis on this machine)
bench-topology: $(VENV)/.synced
	$(VENV)/bin/python -m benchmarks.topology

clean:
	rm -rf var airflow_home
