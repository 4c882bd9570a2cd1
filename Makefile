# One command surface: the README, CI and developers use exactly these targets.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PYTHON ?= python3
STAMP  := $(VENV)/.installed

.PHONY: install demo serve test lint bench clean

$(STAMP): pyproject.toml package.json package-lock.json plugins/*/pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	# Plug-in packages install like anyone's: found through their entry points.
	for p in plugins/*/pyproject.toml; do $(PY) -m pip install --quiet -e $$(dirname $$p) || exit 1; done
	# Browser packages from the npm registry (served from /vendor/, never a CDN).
	npm ci --no-audit --no-fund --loglevel=error
	@touch $(STAMP)

install: $(STAMP)

# Embedded mode: SQLite under var/, in-process jobs, local files; demo guarantors loaded.
demo: install
	$(VENV)/bin/danbao demo --port $${DANBAO_PORT:-8000}

serve: install
	$(VENV)/bin/danbao serve --port $${DANBAO_PORT:-8000}

# The whole suite on real PostgreSQL and Redis (see tests/conftest.py for the URLs).
test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: install
	for b in bench/*.py; do $(PY) $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache node_modules
