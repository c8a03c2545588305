#!/usr/bin/env bash
# Quick start: installs what is missing, builds, and runs a single-instance kvd on
# config/single.yaml in the foreground (data under ./data/single). Ctrl-C stops it cleanly.
# Extra arguments are passed to kvd, e.g. scripts/run.sh --log-level debug
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
echo "run: starting kvd (client port 127.0.0.1:7379, admin http://127.0.0.1:7380/metrics)"
echo "run: in another terminal: build/client/kvctl/kvctl put greeting hello"
exec build/server/kvd --config config/single.yaml "$@"
