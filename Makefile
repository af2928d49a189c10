# OrderHub: `make dev` runs the whole stack, `make test` runs the whole suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: dev test lint install clean bench bench-smoke

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

dev: $(STAMP)
	$(VENV)/bin/orderhub dev

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

# Benchmarks are commands, not tests: each starts its own dev server, PostgreSQL database and sandbox.
bench: $(STAMP)
	$(PY) -m bench --out bench/results/latest.json

bench-smoke: $(STAMP)
	$(PY) -m bench --smoke --out bench/results/latest.json

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .orderhub .pytest_cache
