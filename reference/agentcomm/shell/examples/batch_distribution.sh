#!/usr/bin/env bash
# The design's use case 3, batch distribution: @coordinator.backend queues 100
# process_batch tasks on ANY_AVAILABLE in one call; three @worker.batch.* bash loops
# compete for them, each claiming, processing and completing one task at a time.
#
#   AGENTCOMM_URL=sqlite:///agents.db bash batch_distribution.sh
#
# Needs agentcomm and jq on PATH.  Exits 0 when each batch was processed exactly once.
set -euo pipefail
source "$(agentcomm shell-lib)"
: "${AGENTCOMM_URL:?set AGENTCOMM_URL, e.g. sqlite:///agents.db}"
TASKS=${TASKS:-100}
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT

worker() {  # worker ID: claim -> process -> complete until the queue stays empty for 1 s
    ac_open --agent "$1"
    local tasks
    while tasks=$(ac_claim ANY_AVAILABLE --wait 1); do
        jq -r '.[0].payload.batch_id' <<< "$tasks" >> "$work/${1#@}"  # the "processing"
        ac_complete - <<< "$tasks" > /dev/null
    done
}

ac_open --agent @coordinator.backend
ac_init > /dev/null
for i in $(seq "$TASKS"); do
    printf '{"payload": {"batch_id": "batch_%03d", "data": "dataset_%d"}}\n' "$i" "$i"
done | ac_send ANY_AVAILABLE process_batch --jsonl - > /dev/null

for n in 001 002 003; do worker "@worker.batch.$n" & done
wait

for n in 001 002 003; do
    echo "@worker.batch.$n: $(wc -l < "$work/worker.batch.$n" 2> /dev/null || echo 0) batches"
done
processed=$(cat "$work"/worker.batch.* | sort | uniq | wc -l)
runs=$(cat "$work"/worker.batch.* | wc -l)
echo "$processed of $TASKS batches processed, $runs runs"
(( processed == TASKS && runs == TASKS ))
