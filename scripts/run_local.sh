#!/usr/bin/env bash
# Runs the job service end to end on this machine: redis-server (Debian's) + evo2-api +
# evo2-worker (CPU) on free loopback ports, submits a FASTA with the `evo2` client, follows the
# job, prints the per-record results, and stops everything (also on Ctrl-C or error).
#
#   scripts/run_local.sh [FASTA] [--keep]     (default FASTA: examples/example.fa)
#
# Environment: EVO2_BUILD_DIR (default build), EVO2_LOCAL_MODEL_DIR (default the shipped demo
# model models/evo2-demo, trained on real DNA), EVO2_LOCAL_MODEL (queue name, default evo2-demo).
# Prints the web page's URL (evo2-api's HTTP/JSON port). --keep leaves the services running until
# Ctrl-C (prints how to reach them).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=${EVO2_BUILD_DIR:-build}
MODEL=${EVO2_LOCAL_MODEL:-evo2-demo}
MODEL_DIR=${EVO2_LOCAL_MODEL_DIR:-$ROOT/models/evo2-demo}
FASTA=examples/example.fa
KEEP=0
for arg in "$@"; do
  case "$arg" in
    --keep) KEEP=1 ;;
    *) FASTA=$arg ;;
  esac
done

API=$BUILD_DIR/services/api/evo2-api
WORKER=$BUILD_DIR/services/worker/evo2-worker
EVO2=$BUILD_DIR/services/cli/evo2
for bin in "$API" "$WORKER" "$EVO2"; do
  [[ -x $bin ]] || { echo "run_local: $bin not built (run scripts/build.sh)" >&2; exit 1; }
done
command -v redis-server >/dev/null || { echo "run_local: redis-server missing (scripts/setup.sh)" >&2; exit 1; }
[[ -f $FASTA ]] || { echo "run_local: no FASTA at $FASTA" >&2; exit 1; }

free_port() {  # a port that was free a moment ago
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "run_local: no free port" >&2; exit 1
}

WORK=$(mktemp -d /tmp/evo2-local-XXXXXX)
PIDS=()
cleanup() {
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do kill "${PIDS[i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

REDIS_PORT=$(free_port); API_PORT=$(free_port); API_METRICS=$(free_port); WORKER_METRICS=$(free_port)
HTTP_PORT=$(free_port)
KEY="local-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"

# appendfsync always, as in deploy/k8s: evo2-api refuses a Redis that may lose acknowledged jobs.
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK" --save "" --appendonly yes \
  --appendfsync always --logfile "$WORK/redis.log" --daemonize no &
PIDS+=($!)
for _ in $(seq 1 100); do
  redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1
done

EVO2_API_KEYS="local=$KEY" "$API" --listen "127.0.0.1:$API_PORT" \
  --metrics-listen "127.0.0.1:$API_METRICS" --redis "redis://127.0.0.1:$REDIS_PORT" \
  --http-listen "127.0.0.1:$HTTP_PORT" --model "$MODEL=8192" 2>"$WORK/api.log" &
PIDS+=($!)
"$WORKER" --model-name "$MODEL" --checkpoint "$MODEL_DIR" --redis "redis://127.0.0.1:$REDIS_PORT" \
  --worker-id local-worker --metrics-listen "127.0.0.1:$WORKER_METRICS" 2>"$WORK/worker.log" &
PIDS+=($!)

export EVO2_SERVER="127.0.0.1:$API_PORT" EVO2_API_KEY="$KEY"
for _ in $(seq 1 100); do
  "$EVO2" list >/dev/null 2>&1 && break; sleep 0.1
done
for _ in $(seq 1 300); do
  grep -q "pulling jobs" "$WORK/worker.log" 2>/dev/null && break
  if ! kill -0 "${PIDS[2]}" 2>/dev/null; then cat "$WORK/worker.log" >&2; exit 1; fi
  sleep 0.1
done

echo "== redis :$REDIS_PORT  api :$API_PORT (metrics :$API_METRICS)  worker metrics :$WORKER_METRICS"
echo "== web page: http://127.0.0.1:$HTTP_PORT/  (API key $KEY, model $MODEL)"
echo "== evo2 submit $FASTA --model $MODEL --wait"
status=0
"$EVO2" submit "$FASTA" --model "$MODEL" --wait || status=$?
if [[ $status -ne 0 ]]; then
  echo "run_local: job did not succeed (exit $status); logs:" >&2
  tail -n 20 "$WORK/api.log" "$WORK/worker.log" >&2
fi
if [[ $KEEP -eq 1 ]]; then
  echo "== services running; try: EVO2_SERVER=$EVO2_SERVER EVO2_API_KEY=$KEY $EVO2 list   (Ctrl-C stops)"
  echo "== or open http://127.0.0.1:$HTTP_PORT/ (API key $KEY), or: curl -H 'Authorization: Bearer $KEY' http://127.0.0.1:$HTTP_PORT/v1/jobs"
  wait
fi
exit $status
