#!/bin/sh
# Fails if any C file under src/ or tests/ is not clang-formatted.
set -eu
cd "$(dirname "$0")/.."
files=$(find src tests -name '*.[ch]' | sort)
clang-format --dry-run --Werror $files
