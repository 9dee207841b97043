#!/usr/bin/env bash
# Install Arize Phoenix (a trace viewer that receives OTLP and runs locally) once into its own venv in the
# user cache folder, and reuse it after. `make test` runs it as a bootstrap step for tests/otel, whose
# integration test starts a real Phoenix server and reads gencomp's trace back through its API.
#
#   scripts/install-phoenix.sh          install when missing; print the venv folder on stdout
#   scripts/install-phoenix.sh --find   print the venv folder if it is installed, else fail (installs nothing)
#   scripts/install-phoenix.sh --lock   resolve arize-phoenix==$VERSION anew in a scratch venv and write the lock
#
# The versions are those of requirements/phoenix-lock.txt; the folder ($CACHE/phoenix/<version>-<lock hash>/)
# changes with the lock, so an edited lock installs anew. The first install downloads about 150 MB and
# takes 1-5 minutes (5 min wall, 53 s CPU on a busy 2-core machine); the venv is about 860 MB. It is
# marked complete only once it imports, under a lock: two runs at once install once, and an interrupted
# install is made again by the next run.
# Environment: PYTHON (default python3, 3.11-3.14) makes the venv.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=20.26.1
LOCK=requirements/phoenix-lock.txt
PY=${PYTHON:-python3}
CACHE=${GENCOMP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gencomp}
DEST=$CACHE/phoenix/$VERSION-$(sha256sum "$LOCK" | cut -c1-12)

if [[ ${1:-} == --lock ]]; then
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  "$PY" -m venv "$scratch/venv"
  "$scratch/venv/bin/python" -m pip install --disable-pip-version-check --quiet "arize-phoenix==$VERSION"
  {
    echo "# The exact versions scripts/install-phoenix.sh installs into the viewer's own venv (Python 3.11)."
    echo "# Written by \`scripts/install-phoenix.sh --lock\` (pip freeze of \`pip install arize-phoenix==$VERSION\`)."
    "$scratch/venv/bin/python" -m pip freeze --disable-pip-version-check
  } > "$LOCK"
  echo "install-phoenix: $LOCK written; run make test" >&2
  exit 0
fi

complete() { [[ -x $DEST/bin/phoenix && -f $DEST/.complete ]]; }
if complete; then echo "$DEST"; exit 0; fi
if [[ ${1:-} == --find ]]; then
  echo "install-phoenix: Phoenix $VERSION is not installed in $DEST; run \`make phoenix\` (scripts/install-phoenix.sh)" >&2
  exit 1
fi
command -v flock >/dev/null || { echo "install-phoenix: 'flock' is missing; install it (apt-get install util-linux)" >&2; exit 1; }
mkdir -p "$CACHE/phoenix"
exec 9>"$CACHE/phoenix/.install-$VERSION.lock"
flock 9
if complete; then echo "$DEST"; exit 0; fi   # another run finished while this one waited

start=$(date +%s)
tmp=$(mktemp -d "$CACHE/phoenix/.install-$VERSION.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "install-phoenix: installing arize-phoenix==$VERSION into its own venv (first run: 1-5 minutes)" >&2
# The venv is made where it will live: a venv's scripts hold its absolute path, so it cannot be moved.
rm -rf "$DEST"
"$PY" -m venv "$DEST"
# The lock holds every package at its exact version: installing it as is skips pip's resolver.
"$DEST/bin/python" -m pip install --disable-pip-version-check --quiet --no-deps -r "$LOCK" 2>&1 \
  | { grep -v "is ignored: it is neither" || true; } >&2
"$DEST/bin/python" -m pip check --disable-pip-version-check >&2 \
  || { rm -rf "$DEST"; echo "install-phoenix: $LOCK is not consistent; rewrite it with --lock" >&2; exit 1; }
"$DEST/bin/python" -c "import phoenix.server.main" 2>"$tmp/import.log" \
  || { cat "$tmp/import.log" >&2; rm -rf "$DEST"; echo "install-phoenix: the install does not import" >&2; exit 1; }
touch "$DEST/.complete"
echo "install-phoenix: ready in $(( $(date +%s) - start )) s: $DEST" >&2
echo "$DEST"
