# The two commands of the README: `make demo` runs the main job, `make test` runs every test.
.PHONY: bootstrap demo test test-main test-isolated lint bench bench-quick

PY := .venv/bin/python

bootstrap:
	@scripts/bootstrap.sh

demo: bootstrap
	.venv/bin/gencomp instruct "Write one sentence about the Eiffel Tower." \
	  --req "The answer mentions Paris." --req "The answer is a single sentence."

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
