#!/usr/bin/env bash
# Bash agents, measured against the tools they replace (issue 11; BENCHMARKS.md):
#
#   1. one call through the shell session, against one sqlite3 / redis-cli call;
#   2. 3 bash workers looping claim -> complete through their sessions: msg/s, duplicates;
#   3. request -> reply from bash with an `agent run` responder: p50, p90;
#   4. one plain `agentcomm send` process, against `python3 -c pass`.
#
#   scripts/bench_bash.sh [--url URL] [--tasks N] [--calls N] [--samples N]
#
# Without --url: a fresh SQLite hub in a temporary directory (a Redis URL should name a
# prefix of its own).  Prints one JSON document on stdout, a summary on stderr.  Needs
# agentcomm on PATH (or AGENTCOMM_COMMAND), sqlite3 or redis-cli for the comparison.
set -euo pipefail

url= tasks=2000 calls=300 samples=300
while (( $# )); do
    case $1 in
        --url) url=$2; shift 2 ;;
        --tasks) tasks=$2; shift 2 ;;
        --calls) calls=$2; shift 2 ;;
        --samples) samples=$2; shift 2 ;;
        *) echo "usage: $0 [--url URL] [--tasks N] [--calls N] [--samples N]" >&2; exit 2 ;;
    esac
done

source "$(agentcomm shell-lib)"
work=$(mktemp -d)
agent_pid=
cleanup() {
    if [[ -n $agent_pid ]]; then kill -TERM "$agent_pid" 2> /dev/null || true; fi
    rm -rf -- "$work"
}
trap cleanup EXIT
if [[ -z $url ]]; then url="sqlite:///$work/hub.db"; fi
export AGENTCOMM_URL=$url
read -r -a agentcomm_cmd <<< "${AGENTCOMM_COMMAND:-agentcomm}"

us() { local t=${1/./}; echo $(( 10#$t )); }  # $EPOCHREALTIME in microseconds
per_call() {  # per_call N COMMAND...: mean microseconds of N runs of COMMAND
    local n=$1 start i; shift
    start=$(us "$EPOCHREALTIME")
    for (( i = 0; i < n; i++ )); do "$@" > /dev/null; done
    echo $(( ($(us "$EPOCHREALTIME") - start) / n ))
}
percentile() {  # percentile P FILE: the P-th percentile of the numbers in FILE
    sort -n "$2" | awk -v p="$1" '{v[NR] = $1} END {i = int(NR * p / 100 + 0.5); if (i < 1) i = 1; print v[i]}'
}

ac_open --agent @bench.coordinator
ac_init > /dev/null
note() { echo "bench_bash: $*" >&2; }

# -- 1. one call ---------------------------------------------------------------------------
session_send=$(per_call "$calls" ac_send @bench.sink ping '{}')
session_into=$(per_call "$calls" ac_into _out get 1)
subst() { local out; out=$(ac_send @bench.sink ping '{}'); }
session_subst=$(per_call "$calls" subst)
case $url in
    sqlite:*)
        db=${url#sqlite:///}; db=${db%%\?*}
        tool=sqlite3
        insert() { sqlite3 "$db" "INSERT INTO agent_messages (from_agent, to_agent, message_type, payload) VALUES ('@bench.tool', '@bench.tool.sink', 'ping', '{}');"; }
        tool_call=$(per_call "$calls" insert) ;;
    redis:*)
        where=${url#redis://}; where=${where%%/*}; where=${where##*@}
        tool=redis-cli
        push() { redis-cli -h "${where%:*}" -p "${where##*:}" LPUSH bench:tool:inbox '{}'; }
        tool_call=$(per_call "$calls" push) ;;
    *) tool=none tool_call=0 ;;
esac
note "one call: session ${session_send} us (into ${session_into}, \$(...) ${session_subst}); $tool ${tool_call} us"

# -- 2. three workers ----------------------------------------------------------------------
queue=bench.tasks
for (( i = 0; i < tasks; i++ )); do printf '{"payload": {"n": %d}}\n' "$i"; done \
    | ac_send "$queue" task --jsonl - > /dev/null
worker() {  # claim -> complete until the queue stays empty for 1 s; log ids and times
    ac_open --agent "@bench.worker.$1"
    local t first= last=
    while ac_into t claim "$queue" --wait 1; do
        [[ -n $first ]] || first=$EPOCHREALTIME
        [[ $t =~ ^\[\{\"id\":\ \"([^\"]+)\" ]] && echo "${BASH_REMATCH[1]}" >> "$work/ids.$1"
        ac_complete - <<< "$t" > /dev/null
        last=$EPOCHREALTIME
    done
    echo "${first:-0} ${last:-0}" > "$work/times.$1"
}
for n in 1 2 3; do worker "$n" & done
wait
read -r first _ < <(cat "$work"/times.* | sort -n | head -1)
read -r _ last < <(cat "$work"/times.* | sort -k2 -n | tail -1)
done_count=$(cat "$work"/ids.* | wc -l)
duplicates=$(( done_count - $(cat "$work"/ids.* | sort -u | wc -l) ))
elapsed_us=$(( $(us "$last") - $(us "$first") ))
rate=$(( elapsed_us > 0 ? tasks * 1000000 / elapsed_us : 0 ))
note "3 workers: $done_count of $tasks completed in $(( elapsed_us / 1000 )) ms: $rate msg/s, $duplicates duplicates"

# -- 3. request -> reply -------------------------------------------------------------------
ac_agent_start @bench.responder --handler echo=cat 2> /dev/null > /dev/null
agent_pid=$AC_AGENT_PID
for (( i = 0; i < samples; i++ )); do
    start=$(us "$EPOCHREALTIME")
    ac_into _reply request @bench.responder echo '{"n": 1}' --timeout 10
    echo $(( $(us "$EPOCHREALTIME") - start )) >> "$work/rtt"
done
p50=$(percentile 50 "$work/rtt") p90=$(percentile 90 "$work/rtt")
note "request -> reply: p50 ${p50} us, p90 ${p90} us"

# -- 4. one plain command ------------------------------------------------------------------
# Alternated in rounds of 5 calls each, medians of the rounds: on a shared machine a
# run of 20 of one then 20 of the other swung the ratio between 1.6x and 2.7x.
interpreter=$(head -1 "$(command -v "${agentcomm_cmd[0]}")" | sed -n 's/^#! *//p')
for (( round = 0; round < 12; round++ )); do
    per_call 5 "${agentcomm_cmd[@]}" --agent @bench.plain send @bench.sink ping '{}' >> "$work/plain"
    per_call 5 python3 -c pass >> "$work/python3"
    per_call 5 "${interpreter:-python3}" -c pass >> "$work/interpreter"
done
plain=$(percentile 50 "$work/plain")
python_pass=$(percentile 50 "$work/python3")
interpreter_pass=$(percentile 50 "$work/interpreter")
note "plain agentcomm send: ${plain} us; python3 -c pass ${python_pass} us; its interpreter ${interpreter_pass} us (medians of 12 rounds)"

cat << EOF
{"url": "${url%%\?*}", "machine": {"cpus": $(nproc), "load": "$(cut -d' ' -f1-3 /proc/loadavg 2> /dev/null)", "bash": "$BASH_VERSION"},
 "one_call_us": {"session": $session_send, "session_into": $session_into, "session_subst": $session_subst, "tool": "$tool", "tool_call": $tool_call},
 "workers": {"workers": 3, "tasks": $tasks, "completed": $done_count, "duplicates": $duplicates, "elapsed_ms": $(( elapsed_us / 1000 )), "msg_per_s": $rate},
 "request_reply_us": {"samples": $samples, "p50": $p50, "p90": $p90},
 "plain_send_us": {"agentcomm_send": $plain, "python3_pass": $python_pass, "interpreter_pass": $interpreter_pass}}
EOF
