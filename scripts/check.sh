#!/usr/bin/env bash
# Every gate of `make test`, in order of speed: lint, format, types, then the tests with coverage.
set -euo pipefail
BIN=${BIN:-.venv/bin}
echo "== ruff check";   "$BIN/ruff" check .
echo "== ruff format";  "$BIN/ruff" format --check .
echo "== mypy";         "$BIN/mypy"
echo "== import layers"; "$BIN/lint-imports" --no-cache
echo "== pytest";       "$BIN/pytest" --cov --cov-report=term "$@"
