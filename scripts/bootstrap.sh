#!/usr/bin/env bash
# Create the virtual environment and install the project with its development tools.
# On a fresh Debian machine the venv module may be missing; as root we install it.
set -euo pipefail
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

if [ -z "$PYTHON" ] || ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)" >&2
  exit 2
fi

if [ ! -x "$VENV/bin/python" ]; then
  if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
    rm -rf "$VENV"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "installing the Python venv module (apt-get)"
      apt-get update -qq
      minor=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python${minor}-venv" || \
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
      "$PYTHON" -m venv "$VENV"
    else
      echo "error: '$PYTHON -m venv' failed; install your distribution's python3-venv package" >&2
      exit 2
    fi
  fi
fi

"$VENV/bin/python" -m pip install --quiet --upgrade pip
# llama-cpp-python has no wheel on PyPI and compiles for minutes; a prebuilt one may sit beside the
# project (PURPOSE_AGENT_WHEELS, or ../shared/wheels on our own machines). Without it, pip compiles.
wheels=${PURPOSE_AGENT_WHEELS:-../shared/wheels}
# When pip must compile llama.cpp, build it for a portable x86-64 baseline (AVX2/FMA) instead of the
# host's own instruction set: a native build (AVX-512 and AMX detected) crashed on its first decode on
# our 2-core machines. A CMAKE_ARGS of your own wins.
if [ -z "${CMAKE_ARGS:-}" ] && [ "$(uname -m)" = x86_64 ]; then
  export CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
fi
find_links=()
if [ -d "$wheels" ]; then find_links=(--find-links "$wheels"); fi
"$VENV/bin/python" -m pip install --quiet "${find_links[@]}" -e '.[dev,all]'
echo "installed into $VENV"
