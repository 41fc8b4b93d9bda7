#!/bin/bash
# Whole ingestion of one night by several builds of the CLI, side by side: each build (a checkout built
# with `npm run build`, node_modules linked in) ingests the same logs into a fresh state file, the
# builds in turn and the order rotated every run, niced. Prints per run the build, the ingest command's
# in-process seconds, the process CPU (user + system of the whole process tree, /usr/bin/time), the
# wall seconds and the load average; then each build's mean CPU. Process CPU moves far less than wall
# time on a loaded machine; both are upper bounds. With DUMP set, the first run's network_usage rows of
# each build are written, sorted, to $DUMP/<name>.rows for a diff.
#
#   bench/ingest-cpu-compare.sh <logs> <registry> <runs> name=/path/to/build [name=/path ...]
set -euo pipefail
logs=$1
registry=$2
runs=$3
shift 3
names=()
declare -A root
for t in "$@"; do
  names+=("${t%%=*}")
  root[${t%%=*}]=${t#*=}
done
here=$(cd "$(dirname "$0")/.." && pwd)
state=$(mktemp -d)
declare -A total
for ((r = 0; r < runs; r++)); do
  for ((j = 0; j < ${#names[@]}; j++)); do
    b=${names[$(((r + j) % ${#names[@]}))]}
    db=$state/$b.duckdb
    rm -f "$db" "$db.wal"
    out=$({ /usr/bin/time -f "TIME %U %S %e" nice -n 5 node "${root[$b]}/bin/partner-audit.mjs" ingest \
      --logs "$logs" --registry "$registry" --db "$db" --json; } 2>&1)
    seconds=$(echo "$out" | grep -o '"seconds":[0-9.]*' | head -1 | cut -d: -f2)
    cpu=$(echo "$out" | grep '^TIME' | tail -1 | awk '{printf "%.2f", $2 + $3}')
    wall=$(echo "$out" | grep '^TIME' | tail -1 | awk '{print $4}')
    total[$b]=$(echo "${total[$b]:-0} + $cpu" | bc)
    printf 'run %d %s: %.2f s in-process, cpu %s s, wall %s s, load %s\n' $((r + 1)) "$b" "$seconds" "$cpu" "$wall" \
      "$(cut -d' ' -f1 /proc/loadavg)"
    if [[ $r -eq 0 && -n ${DUMP:-} ]]; then
      mkdir -p "$DUMP"
      node --input-type=module -e "
        import { DuckDBInstance } from '$here/node_modules/@duckdb/node-api/lib/index.js';
        const c = await (await DuckDBInstance.create('$db', { access_mode: 'READ_ONLY' })).connect();
        const r = await c.runAndReadAll('SELECT * FROM network_usage ORDER BY ALL');
        for (const row of r.getRowsJS()) console.log(row.map(String).join('|'));
      " >"$DUMP/$b.rows"
    fi
    rm -f "$db" "$db.wal"
  done
done
for b in "${names[@]}"; do
  printf '%s: mean cpu %.3f s\n' "$b" "$(echo "scale=4; ${total[$b]} / $runs" | bc)"
done
rm -rf "$state"
