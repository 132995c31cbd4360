#!/usr/bin/env bash
# Regenerates the results files the README and the docs quote, then checks every claim
# (docs/results/claims.toml) against them. One command, from the repository root:
#
#     docs/results/regenerate.sh                 # all of them, about 15 minutes on 2 cores
#     docs/results/regenerate.sh suite workers   # some of them
#
# Each folder gets results.json (every figure, the command, the commit, the machine and how
# busy it was) and report.md; `corio-bench report docs/results/NAME/results.json` makes its
# report.html. Run it on a machine as quiet as you can get: the results say how busy it was.
# Claims that no longer hold are listed by the test at the end, with what the new data says;
# rewrite them in the docs and in claims.toml.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -p corio-bench -p corio-proxy
bench=target/release/corio-bench

run() {
  local name=$1
  shift
  rm -rf "docs/results/$name"
  echo "== docs/results/$name: corio-bench $*" >&2
  "$bench" "$@" --out "docs/results/$name" >/dev/null
  rm -f "docs/results/$name/report.html"
}

for name in "${@:-suite proxy syscall-cost workers}"; do
  for n in $name; do
    case $n in
      suite) run suite ;;
      proxy) run proxy proxy ;;
      syscall-cost)
        run syscall-cost --cases "pingpong c=1,pingpong c=50,pingpong c=500,pipelined,proxy 64B c=50" \
          --servers corio-uring,corio-epoll,raw-uring,raw-epoll,tokio,haproxy \
          --syscall-cost none,seccomp,seccomp-nocache,seccomp-nocache-x4,seccomp-nocache-x16 \
          --secs 0.5
        ;;
      workers)
        run workers --cases "pingpong c=50,pingpong c=500,pipelined" \
          --servers corio-uring,corio-epoll,monoio,compio,tokio-mt --workers 1,2
        ;;
      *) echo "unknown results file: $n (suite, proxy, syscall-cost, workers)" >&2; exit 2 ;;
    esac
  done
done
cargo test --release -p corio-bench --test claims
