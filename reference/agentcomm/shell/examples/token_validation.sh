#!/usr/bin/env bash
# The design's use case 1, token validation: @backend.nodejs asks @service.auth to
# validate a token and waits for the answer; @service.auth answers in a bash loop.
#
#   AGENTCOMM_URL=sqlite:///agents.db bash token_validation.sh
#
# Needs agentcomm and jq on PATH.  Exits 0 when both answers are right.
set -euo pipefail
source "$(agentcomm shell-lib)"
: "${AGENTCOMM_URL:?set AGENTCOMM_URL, e.g. sqlite:///agents.db}"

auth_service() {  # @service.auth: claim a request, check the token, reply; until "shutdown"
    ac_open --agent @service.auth
    ac_register --capability validate_token > /dev/null
    local request id token type valid
    while request=$(ac_receive --wait 30); do
        IFS=$'\t' read -r id token type valid < <(jq -r '.[0] | [.id, .token, .type,
            (.payload.token // "" | startswith("jwt"))] | @tsv' <<< "$request")
        if [[ $type == shutdown ]]; then
            ac_complete "$id" "$token" > /dev/null
            break
        fi
        if [[ $valid == true ]]; then
            ac_reply "$id" "$token" '{"valid": true, "user": "john_doe"}' > /dev/null
        else
            ac_reply "$id" "$token" '{"valid": false}' > /dev/null
        fi
    done
    ac_deregister > /dev/null
}

ac_open --agent @backend.nodejs
ac_init > /dev/null
auth_service &
service=$!

ask() {  # ask TOKEN: the service's answer to validate_token, as JSON
    ac_request @service.auth validate_token "{\"token\": \"$1\", \"endpoint\": \"/api/users\"}" \
        --timeout 10 | jq -c .payload
}
good=$(ask jwt123)
forged=$(ask forged)
ac_send @service.auth shutdown '{}' > /dev/null
wait "$service"

echo "jwt123: $good"
echo "forged: $forged"
[[ $(jq .valid <<< "$good") == true && $(jq .valid <<< "$forged") == false ]]
