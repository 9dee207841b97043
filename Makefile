# The two commands of the README: `make demo` runs the main job, `make test` runs every test.
.PHONY: bootstrap demo test test-main test-isolated test-latest lock lint typecheck bench bench-quick

VENV ?= .venv
PY := $(VENV)/bin/python

bootstrap:
	@scripts/bootstrap.sh

# `gencomp instruct` exits 1 when a requirement still fails after the retries: a verdict, not an error.
demo: bootstrap
	$(VENV)/bin/gencomp instruct "Write one sentence about the moon." \
	  --req "The answer contains a number." --loop-budget 3 --max-new-tokens 64; \
	  status=$$?; [ $$status -le 1 ]

# Everything CI runs, on the locked versions of requirements/lock.txt.
test: bootstrap lint typecheck test-main test-isolated

# The same suite on the newest versions the distributions' ranges allow (drift shows here first).
test-latest:
	@scripts/bootstrap.sh --latest
	$(MAKE) lint typecheck test-main test-isolated VENV=.venv-latest

# Refresh requirements/lock.txt from a passing run of the newest versions.
lock:
	@scripts/lock.sh

lint:
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck:
	$(PY) -m mypy

test-main:
	$(PY) -m pytest

test-isolated:
	VENV=$(VENV) scripts/test-isolated.sh

bench: bootstrap
	$(PY) benchmarks/run.py

bench-quick: bootstrap
	$(PY) benchmarks/run.py --quick
