# OrderHub: `make dev` runs the whole stack, `make test` runs the whole suite, `make check` the fast part.
#
# Every environment installs the same versions: .venv from requirements/dev.txt, the image
# (deploy/Dockerfile) from requirements/runtime.txt, both resolved together by `make lock` from
# pyproject.toml. After changing a dependency in pyproject.toml run `make lock` and commit the locks;
# `make lock LOCK_FLAGS=--upgrade` (or `--upgrade-package NAME`) moves pins forward.
PYTHON ?= $(shell command -v python3.11)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
LOCK   := requirements/dev.txt
RUNTIME_LOCK := requirements/runtime.txt
PIP    := $(PY) -m pip --quiet --disable-pip-version-check
LOCK_FLAGS ?=
# --universal: one lock for every platform (the image is Linux, a laptop may not be).
UV_COMPILE := $(VENV)/bin/uv pip compile pyproject.toml --quiet --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command 'make lock' $(LOCK_FLAGS)
IS_311 := -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'

# The lock is resolved for Python 3.11 and the image runs 3.11: no other version is accepted.
define need_python_311
	@if [ -z "$(PYTHON)" ] || ! "$(PYTHON)" $(IS_311) 2>/dev/null; then \
		echo "OrderHub needs Python 3.11: install python3.11 (pyenv install 3.11 / apt) and retry" >&2; \
		exit 1; \
	fi
	@$(PY) $(IS_311) 2>/dev/null || { rm -rf $(VENV); "$(PYTHON)" -m venv $(VENV); }
endef

.PHONY: dev test check test-fast lint typecheck install lock clean bench bench-smoke

# Reinstalls whenever the lock or pyproject.toml (entry points, package list) changes.
$(STAMP): pyproject.toml $(LOCK)
	$(need_python_311)
	$(PIP) install --require-hashes -r $(LOCK)
	$(PIP) install --no-deps -e .
	$(PY) -m pip check --disable-pip-version-check
	@touch $(STAMP)

install: $(STAMP)

dev: $(STAMP)
	$(VENV)/bin/orderhub dev

# Everything: lint, types, then every test: the fast part as `make check` runs it, the other slow
# ones (Temporal dev servers, PostgreSQL databases, property runs) in two processes too, and last the
# whole stacks and fault drills one at a time, since their deadlines assume the machine to themselves.
test: lint typecheck test-fast
	$(PY) -m pytest -q -m "slow and not stack" -n $(CHECK_WORKERS) --dist loadfile
	$(PY) -m pytest -q -m stack

# The fast loop: lint and the tests not marked slow (pure logic, time-skipping workflow tests,
# history replays), one test module per worker process (CHECK_WORKERS=0: all in this process);
# `make -k check` runs the tests even when lint fails.
CHECK_WORKERS ?= 2
check: lint test-fast

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" -n $(CHECK_WORKERS) --dist loadfile

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# Needs only a Python 3.11 and PyPI; the runtime lock is constrained by the dev one, so the two agree.
lock:
	$(need_python_311)
	@test -x $(VENV)/bin/uv || $(PIP) install uv
	$(UV_COMPILE) --extra dev -o $(LOCK)
	$(UV_COMPILE) -c $(LOCK) -o $(RUNTIME_LOCK)

# Benchmarks are commands, not tests: each starts its own dev server, PostgreSQL database and sandbox.
bench: $(STAMP)
	$(PY) -m bench --out bench/results/latest.json

bench-smoke: $(STAMP)
	$(PY) -m bench --smoke --out bench/results/latest.json

clean:
	rm -rf $(VENV) .orderhub .pytest_cache .mypy_cache .ruff_cache
