#!/usr/bin/env bash
# The project's test command: the whole suite under each driver, then the doc examples.
set -euo pipefail
cd "$(dirname "$0")"
for driver in uring epoll; do
  echo "=== CORIO_DRIVER=$driver ==="
  CORIO_DRIVER=$driver cargo test --all-targets -- --test-threads=2
done
# Cross-executor wakes on io_uring go ring to ring (MSG_RING); prove the eventfd path and the
# fallback from a failed message too.
for hook in CORIO_DISABLE_MSG_RING CORIO_FORCE_MSG_RING_FAILURE; do
  echo "=== CORIO_DRIVER=uring $hook=1 ==="
  env CORIO_DRIVER=uring "$hook=1" cargo test -p corio --test workers --test runtime -- --test-threads=2
done
echo "=== doc examples ==="
cargo test --doc -p corio -p corio-compat
