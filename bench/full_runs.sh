#!/bin/bash
# Three full runs of the ack benchmark (1, 10 and 50 clients, SQLite then PostgreSQL) and the
# kill benchmark, as docs/benchmarks.md stamps them. Run it from a worktree at the commit being
# measured, so nothing edited meanwhile changes the code under the servers it starts:
#
#   git worktree add --detach /tmp/golive-bench HEAD
#   cd /tmp/golive-bench && PYTHONPATH=$PWD bash bench/full_runs.sh /tmp/bench-results
#
# Each script's output and its --json line go to OUT/ack-r<run>-<db>-c<clients>.log and
# OUT/kill-r<run>.log; OUT/stamp.txt logs each step's exit status, time and load average.
set -u
out=${1:-bench-results}
pg=${GOLIVE_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/test}
python=${PYTHON:-python}
mkdir -p "$out"
echo "start $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD) load $(cat /proc/loadavg)" >> "$out/stamp.txt"
for run in 1 2 3; do
  for db in sqlite pg; do
    dbarg=()
    [ "$db" = pg ] && dbarg=(--database-url "$pg")
    for cr in "1 100" "10 200" "50 400"; do
      set -- $cr
      "$python" bench/ack_latency.py --clients "$1" --requests "$2" "${dbarg[@]}" --json > "$out/ack-r$run-$db-c$1.log" 2>&1
      echo "run $run $db c$1 rc $? $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/stamp.txt"
    done
  done
  "$python" bench/kill_serve.py --database-url "$pg" --databases sqlite,postgresql --json > "$out/kill-r$run.log" 2>&1
  echo "run $run kill rc $? $(date -u +%T)" >> "$out/stamp.txt"
done
echo "end $(date -u +%FT%TZ)" >> "$out/stamp.txt"
