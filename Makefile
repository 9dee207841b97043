# The two commands of the README: `make demo` runs the main job, `make test` runs every test.
.PHONY: bootstrap demo test test-main test-isolated lint bench bench-quick

PY := .venv/bin/python

bootstrap:
	@scripts/bootstrap.sh

# `gencomp instruct` exits 1 when a requirement still fails after the retries: a verdict, not an error.
demo: bootstrap
	.venv/bin/gencomp instruct "Write one sentence about the moon." \
	  --req "The answer contains a number." --loop-budget 3 --max-new-tokens 64; \
	  status=$$?; [ $$status -le 1 ]

test: bootstrap lint test-main test-isolated

lint:
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test-main:
	$(PY) -m pytest

test-isolated:
	scripts/test-isolated.sh

bench: bootstrap
	$(PY) benchmarks/run.py

bench-quick: bootstrap
	$(PY) benchmarks/run.py --quick
