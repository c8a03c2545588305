#!/usr/bin/env bash
# Purity check: the deterministic code (common/, server/kv/, server/topology/) must not
# use sockets, threads, clocks, randomness, LevelDB, files or the environment
# (see ../shared/DESIGN.md, "the one rule"). Exits 1 and lists offending lines.
set -euo pipefail
cd "$(dirname "$0")/.."

banned='boost/asio|#include <thread>|#include <mutex>|#include <future>|#include <atomic>|_clock::now|sleep_for|sleep_until|usleep|std::random_device|[^a-z_]rand\(|leveldb/|#include <fstream>|getenv'
# common/log.h only declares an interface; nothing else is exempt.
hits=$(grep -rnE "$banned" common server/kv server/topology --include='*.h' --include='*.cc' || true)
if [ -n "$hits" ]; then
  echo "lint: banned in deterministic code:"
  echo "$hits"
  exit 1
fi
echo "lint: deterministic code is clean"
