# Two commands set up a fresh machine (python3 and make only):
#   make run    venv + install + .env + migrate + seed demo data + collect
#               static files + serve :8000
#   make test   venv + install (with test extras) + .env + the whole suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= localhost
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test lint format migrate seed static clean-venv haproxy

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The pinned dependencies come from pyproject.toml (runtime and test extras);
# the stamp makes a pyproject.toml change reinstall.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python scripts/requirements.py > $(VENV)/requirements.txt
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(BIN)/python -m pip install --quiet -r $(VENV)/requirements.txt
	touch $@

.env:
	$(PYTHON) scripts/make_env.py

migrate: $(VENV)/.installed .env
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo

# uvicorn serves no files: WhiteNoise serves /static/ from STATIC_ROOT, under
# the hashed names collectstatic writes there (and its manifest).
static: $(VENV)/.installed .env
	$(BIN)/python manage.py collectstatic --noinput

run: seed static
	$(BIN)/python -m uvicorn config.asgi:application --host $(HOST) --port $(PORT)

# The browser tests drive Debian's Chromium (Playwright never downloads one):
# installed with apt when it is missing and apt is usable (root). Otherwise
# the browser tests fail and say how to install it.
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	@if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "Installing chromium with apt for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "warning: $(CHROMIUM) is missing and apt-get is not usable here;" \
			"the browser tests will fail: sudo apt-get install -y chromium" >&2; \
	fi

# The cluster (scripts/cluster.py, tests/cluster/) puts Debian's HAProxy in
# front of the nodes: installed with apt when missing, like Chromium.
HAPROXY := /usr/sbin/haproxy

$(HAPROXY):
	@if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "Installing haproxy with apt for the cluster"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null; \
	else \
		echo "warning: $(HAPROXY) is missing and apt-get is not usable here;" \
			"the cluster tests will fail: sudo apt-get install -y haproxy" >&2; \
	fi

haproxy: $(HAPROXY)

test: $(VENV)/.installed .env $(CHROMIUM) $(HAPROXY)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean-venv:
	rm -rf $(VENV)
