# Two set-up commands: `make run` (the whole product, on SQLite) and `make test` (the whole test suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
ADDR ?= 127.0.0.1:8000
SFSIM_PORT ?= 8443
PYTEST_ARGS ?= -n 2

.PHONY: run test lint bench soak clean-db

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

.env:
	$(BIN)/python -m roxcrm.devenv

run: $(VENV)/.runtime | .env
	$(BIN)/python manage.py devstack --addr $(ADDR) --sfsim-port $(SFSIM_PORT)

test: $(VENV)/.dev | .env
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(VENV)/.dev | .env
	@set -e; for script in bench/*_bench.py; do echo "== $$script"; $(BIN)/python $$script; done

MODEL_EXAMPLES ?= 300

soak: $(VENV)/.dev | .env
	ROX_MODEL_EXAMPLES=$(MODEL_EXAMPLES) $(BIN)/python -m pytest tests/integrations/test_model_based.py -q -p no:randomly
	$(BIN)/python bench/soak.py $(SOAK_ARGS)

clean-db:
	rm -rf db.sqlite3 db.sqlite3-wal db.sqlite3-shm .sfsim
