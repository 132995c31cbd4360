#!/usr/bin/env bash
# The project's test command. Every integration test runs its body under both drivers inside
# one `cargo test` (tests/support/drivers.rs); what follows it needs a process of its own.
set -euo pipefail
cd "$(dirname "$0")"
echo "=== the library: every test, both drivers ==="
# Without CORIO_DRIVER (which would keep one pass only; see docs/testing.md). With every
# feature (macros, bytes, tracing): their tests and examples build only so.
env -u CORIO_DRIVER cargo test -p corio --all-targets --all-features -- --test-threads=2
# The programs (corio-bench, corio-compat, corio-proxy) drive their servers as child processes
# that take their driver from CORIO_DRIVER: once per driver.
for driver in uring epoll; do
  echo "=== the programs, CORIO_DRIVER=$driver ==="
  CORIO_DRIVER=$driver cargo test --workspace --exclude corio --all-targets -- --test-threads=2
done
# Cross-executor wakes on io_uring go ring to ring (MSG_RING); prove the eventfd path and the
# fallback from a failed message too. The hooks are read from the environment at ring setup,
# so they need a run of their own; CORIO_DRIVER=uring keeps only the uring pass.
for hook in CORIO_DISABLE_MSG_RING CORIO_FORCE_MSG_RING_FAILURE; do
  echo "=== CORIO_DRIVER=uring $hook=1 ==="
  env CORIO_DRIVER=uring "$hook=1" cargo test -p corio --test workers --test runtime -- --test-threads=2
done
# A kernel without the file opcodes: the ring stays, and every file operation runs on the
# blocking pool instead (per-operation fallback; the hook is read at ring setup).
echo "=== CORIO_DRIVER=uring, file opcodes missing ==="
env CORIO_DRIVER=uring CORIO_FORCE_MISSING_OPCODE=WRITE,FSYNC,OPENAT,STATX,RENAMEAT,UNLINKAT,MKDIRAT,FALLOCATE,FTRUNCATE \
  cargo test -p corio --test fs -- --test-threads=2
# Registered descriptors on: the socket suites again with accepted and connected TCP sockets in
# the ring's fixed-file table (the hook is read at ring setup). Skipped: the two checks whose
# premise is a plain fd per socket (an fd count per accepted socket; a socket used on a second
# ring, which a registered slot refuses by design).
echo "=== CORIO_DRIVER=uring CORIO_REGISTERED_FDS=1 ==="
env CORIO_DRIVER=uring CORIO_REGISTERED_FDS=1 cargo test -p corio --test net_tcp --test deadline \
  --test readiness --test workers --test fuzz_findings --test soundness --test registered \
  --test quarantine --test splice --test readable --test io --test sockets --test pooled -- --test-threads=2 \
  --skip close_releases_the_fd_and_fails_later_operations \
  --skip a_socket_used_under_a_second_executor_works_or_fails_clearly
# The proxy's data path (buffered and splice) with its sockets registered.
echo "=== corio-proxy data tests, CORIO_DRIVER=uring CORIO_REGISTERED_FDS=1 ==="
env CORIO_DRIVER=uring CORIO_REGISTERED_FDS=1 cargo test -p corio-proxy --test data -- --test-threads=2
# A kernel without IORING_OP_SPLICE: splice runs splice(2) on the ring (the readiness form),
# which must never block the executor; registered sockets get an fd for it.
echo "=== CORIO_DRIVER=uring CORIO_FORCE_MISSING_OPCODE=SPLICE CORIO_REGISTERED_FDS=1 ==="
env CORIO_DRIVER=uring CORIO_FORCE_MISSING_OPCODE=SPLICE CORIO_REGISTERED_FDS=1 \
  cargo test -p corio --test splice -- --test-threads=2 \
  --skip a_splice_on_the_ring_fallback_never_blocks_the_executor
echo "=== doc examples ==="
cargo test --doc -p corio -p corio-compat --features corio/macros,corio/bytes,corio/tracing
