#!/usr/bin/env bash
# The design's use case 2, event broadcasting: @service.auth publishes user_login once;
# @analytics.tracker, @audit.compliance and @service.communication each handle it once.
# The subscribers are `agentcomm agent run` processes whose handler is this script.
#
#   AGENTCOMM_URL=sqlite:///agents.db bash event_broadcast.sh
#
# Needs agentcomm and jq on PATH.  Exits 0 when every subscriber handled the event once.
set -euo pipefail

if [[ ${1-} == on-login ]]; then  # the handler: the event's payload on stdin
    printf '%s %s %s\n' "$AGENTCOMM_AGENT" "$AGENTCOMM_EVENT_ID" "$(jq -c . )" >> "$2"
    exit 0
fi

source "$(agentcomm shell-lib)"
: "${AGENTCOMM_URL:?set AGENTCOMM_URL, e.g. sqlite:///agents.db}"
subscribers=(@analytics.tracker @audit.compliance @service.communication)
work=$(mktemp -d)
agents=()
stop() {
    if (( ${#agents[@]} )); then kill -TERM "${agents[@]}" 2> /dev/null || true; fi
    wait || true
    rm -rf -- "$work"
}
trap stop EXIT

ac_open --agent @service.auth
ac_init > /dev/null
for agent in "${subscribers[@]}"; do
    # Back once registered and subscribed: an event published from now on reaches it.
    ac_agent_start "$agent" --on-event "user_login=bash $0 on-login $work/log" \
        > /dev/null 2> "$work/${agent#@}.err"
    agents+=("$AC_AGENT_PID")
done

event=$(ac_publish user_login '{"user_id": "123", "session": "sess456", "ip": "192.168.1.1"}')
id=$(jq -r .id <<< "$event")
for _ in $(seq 100); do  # up to 10 s for the three handlers to run
    [[ $(grep -c " $id " "$work/log" 2> /dev/null) == 3 ]] && break
    sleep 0.1
done
kill -TERM "${agents[@]}"
wait "${agents[@]}" || true
agents=()

cat "$work/log"
for agent in "${subscribers[@]}"; do
    [[ $(grep -c "^$agent $id " "$work/log") == 1 ]] || { echo "$agent: not once" >&2; exit 1; }
done
echo "user_login $id: each of ${#subscribers[@]} subscribers handled it once"
