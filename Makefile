# Lianfu — `make demo` runs the federation on loopback, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: demo test bench system-deps messages clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/lianfu demo

# System packages the suite drives for real: Chromium (pages) and PostgreSQL 15 (the hub's database).
system-deps:
	@sh tests/ensure-system-deps.sh

test: $(VENV)/.installed-test system-deps
	$(PY) -m pytest -n 2 -q -p no:cacheprovider --durations=25

bench: $(VENV)/.installed-test system-deps
	@# The yardstick of the sync figures (PouchDB, same machine, same run): needs node; skipped without it.
	@if command -v npm >/dev/null 2>&1; then cd tests/bench/pouchdb && npm ci --no-audit --no-fund --loglevel=error; fi
	$(PY) tests/bench/run.py

# Extract msgids into the catalog template and merge them into each language's .po.
messages: $(VENV)/.installed
	$(VENV)/bin/pybabel extract -F babel.cfg -o common/locale/messages.pot .
	$(VENV)/bin/pybabel update -i common/locale/messages.pot -d common/locale -D messages --ignore-obsolete

clean:
	rm -rf $(VENV) var/demo tests/artifacts
