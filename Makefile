# Two commands on a fresh machine: `make run` (the demo on the embedded broker) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# orjson, kept out of the venv's own packages (Faust's json codec would use it everywhere):
# the tests that check the tables' encoding with it put this folder on PYTHONPATH
ORJSON := $(VENV)/orjson

.PHONY: install run test test-fast lint bench clean

install: $(STAMP) $(ORJSON)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

$(ORJSON): $(STAMP)
	rm -rf $@
	$(BIN)/python -m pip install --quiet --target $@ "orjson>=3.9,<4"

run: install
	$(BIN)/faust -A weather_app demo

test: install  # the slowest 25 tests listed at the end: where the suite's time goes
	$(BIN)/python -m pytest --durations=25

test-fast: install  # everything but the tests marked slow (e2e, contract, Spark faults, cluster, Connect)
	$(BIN)/python -m pytest -m "not slow"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) data .pytest_cache
