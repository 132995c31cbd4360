#!/usr/bin/env bash
# The project's test command: the whole suite under each driver, then the doc examples.
set -euo pipefail
cd "$(dirname "$0")"
for driver in uring epoll; do
  echo "=== CORIO_DRIVER=$driver ==="
  CORIO_DRIVER=$driver cargo test --all-targets -- --test-threads=2
done
echo "=== CORIO_DRIVER=uring CORIO_DISABLE_MSG_RING=1 (cross-core wakes by eventfd) ==="
CORIO_DRIVER=uring CORIO_DISABLE_MSG_RING=1 cargo test -p corio --test workers --test runtime -- --test-threads=2
echo "=== doc examples ==="
cargo test --doc -p corio
