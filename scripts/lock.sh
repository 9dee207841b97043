#!/usr/bin/env bash
# Refresh requirements/lock.txt: upgrade .venv-latest to the newest versions the ranges allow, run the
# whole suite there, and only when it passes write that venv's versions into the lock.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --latest
make test-main test-isolated VENV=.venv-latest
{
  echo "# The exact versions \`make demo\` and \`make test\` install (pip constraints, Python 3.11, CPU)."
  echo "# Written by scripts/lock.sh from a venv whose suite passed; CONTRIBUTING.md says how to refresh it."
  .venv-latest/bin/python -m pip freeze --exclude-editable --disable-pip-version-check \
    | grep -v '^-e ' | sed -E 's/^(torch==[^+]+)\+.*/\1/'
} > requirements/lock.txt
echo "lock: requirements/lock.txt written; review with git diff, then run make test" >&2
