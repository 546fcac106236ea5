#!/usr/bin/env bash
# Sets up a fresh machine and runs every test: the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh --tests
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Debug
cmake --build build
ctest --test-dir build --output-on-failure --timeout 300 "$@"
