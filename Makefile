# Two commands set up a fresh machine (python3 and make only):
#   make run    venv + install + .env + migrate + seed demo data + serve :8000
#   make test   venv + install (with test extras) + .env + the whole suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= localhost
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test lint format migrate seed clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The pinned dependencies come from pyproject.toml (runtime and test extras);
# the stamp makes a pyproject.toml change reinstall.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python scripts/requirements.py > $(VENV)/requirements.txt
	$(BIN)/python -m pip install --quiet -r $(VENV)/requirements.txt
	touch $@

.env:
	$(PYTHON) scripts/make_env.py

migrate: $(VENV)/.installed .env
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo

run: seed
	$(BIN)/python -m uvicorn config.asgi:application --host $(HOST) --port $(PORT)

test: $(VENV)/.installed .env
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean-venv:
	rm -rf $(VENV)
