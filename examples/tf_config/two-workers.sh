#!/bin/bash
# Train one run with two worker processes on this machine, described by TF_CONFIG.
#
#   examples/tf_config/two-workers.sh [RUNNER_OPTIONS...]
#
# Each worker gets the same cluster (two addresses on 127.0.0.1) and its own
# task index. Worker 0 is the chief: it writes the run folder. On other
# machines, list their host:port pairs in `cluster` and start one worker per
# machine with its index, with the state directory on a shared file system.
#
# Stop both with SIGTERM to either one: they commit at the same step and
# exit 75. Run this script again with the same options to resume.

RUNNER=${RUNNER:-runner}
JOB=${JOB:-fashion_mnist}
PORTS=${PORTS:-"23456 23457"}
read -r port0 port1 <<<"$PORTS"
cluster="{\"worker\": [\"127.0.0.1:${port0}\", \"127.0.0.1:${port1}\"]}"

pids=()
for index in 0 1; do
    # shellcheck disable=SC2086  # RUNNER may hold several words.
    TF_CONFIG="{\"cluster\": ${cluster}, \"task\": {\"type\": \"worker\", \"index\": ${index}}}" \
        $RUNNER ensure "$JOB" --strategy multi-worker "$@" &
    pids+=("$!")
done
trap 'kill -TERM "${pids[@]}" 2>/dev/null' INT TERM

# Exit with the highest exit code of the workers, as srun does.
code=0
for pid in "${pids[@]}"; do
    while :; do
        wait "$pid"
        status=$?
        kill -0 "$pid" 2>/dev/null || break
    done
    [ "$status" -gt "$code" ] && code=$status
done
echo "workers exited with ${code}"
exit "$code"
