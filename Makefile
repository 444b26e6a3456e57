PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Two workers: the suite is mostly subprocesses and waits. Tests marked `serial` (real Celery
# workers under tight task time limits) run afterwards, alone.
TEST_WORKERS ?= 2

.PHONY: test lint demo bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadgroup -m 'not serial' $(PYTEST_ARGS)
	$(BIN)/pytest -q -p no:cacheprovider -m serial $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/driftwise demo $(DEMO_ARGS)

bench: $(STAMP)
	$(BIN)/pip install -q -e '.[dev,bench]'
	mkdir -p bench/results
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.monitor
	$(BIN)/python -m bench.retrain
	$(BIN)/python -m bench.bootstrap
	$(BIN)/python -m bench.web
	$(BIN)/python -m bench.push
	$(BIN)/python -m bench.metrics
	$(BIN)/python -m bench.daemon
	$(BIN)/python -m bench.table

clean:
	rm -rf $(VENV) build *.egg-info
