# agentcomm.bash: agentcomm commands from bash at the cost of a pipe round trip, through a
# session process that keeps the hub open.  Load it with:
#
#     source "$(agentcomm shell-lib)"
#
#     ac_open --url sqlite:///agents.db --agent @worker.batch.001   # or AGENTCOMM_URL/_AGENT
#     while tasks=$(ac_claim --wait 30); do       # exit 3: nothing came within 30 s
#         ...                                     # the claims are JSON, as `agentcomm claim`
#         ac_complete - <<< "$tasks" > /dev/null
#     done
#
# Functions (README "Use it from bash"):
#   ac_open [NAME] [--url URL] [--agent @ID]   start a session and make it the current one
#   ac_close [NAME]                             end it (the EXIT trap ends them all); in
#                                               a subshell, only forget the opener's
#   ac_COMMAND ARGS...                          `agentcomm COMMAND ARGS...` in the current
#                                               session: ac_send, ac_claim, ac_get_reply,
#                                               ac_dead_letters list, ... (see below)
#   ac_call [--agent @ID] COMMAND ARGS...       any command, with global options
#   ac_into VAR COMMAND ARGS...                 the same, stdout into VAR (no subshell)
#   ac_agent_start [--url URL] @ID [OPTIONS]    `agentcomm agent run` in the background,
#                                               back once it is registered and subscribed
#
# Every ac_COMMAND prints what `agentcomm COMMAND` prints (JSON on stdout, JSON errors on
# stderr) and returns its exit status.  An argument `-` forwards the function's stdin, as
# the command would read it.  One more status: 11, with {"error": "session_lost", ...}
# on stderr, when no session is open, or it died, or it gave no sign of life for
# AC_STALL seconds (default 10; a long --wait is a sign of life): the call's effect is
# then unknown, and the session is closed.  Call a session from one process at a time;
# a background job opens its own (ac_open NAME in the job).
#
# Settings: AC_SESSION (the current session, default "default"), AC_STALL, and
# AGENTCOMM_COMMAND (the agentcomm command line, split on spaces; default "agentcomm").
# Needs bash 4.4 or later.

if [ -z "${BASH_VERSION-}" ] || [ "${BASH_VERSINFO[0]}" -lt 4 ] \
        || { [ "${BASH_VERSINFO[0]}" -eq 4 ] && [ "${BASH_VERSINFO[1]}" -lt 4 ]; }; then
    echo '{"error": "configuration", "message": "the agentcomm shell library needs bash 4.4 or later", "definite": true}' >&2
    return 9 2> /dev/null || exit 9
fi

declare -gA _AC_PID=() _AC_TO=() _AC_FROM=() _AC_OWNER=()
: "${AC_SESSION:=default}"

# -- sessions ------------------------------------------------------------------------------

ac_open() {
    local _ac_name=default
    if (( $# )) && [[ $1 != -* ]]; then _ac_name=$1; shift; fi
    if [[ ! $_ac_name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
        _ac_error 2 usage "session name '$_ac_name' is not a name ([A-Za-z_][A-Za-z0-9_]*)" true
        return
    fi
    if [[ -n ${_AC_PID[$_ac_name]-} ]]; then ac_close "$_ac_name"; fi
    local _ac_dir _ac_to _ac_from _ac_hold _ac_pid _ac_line _ac_tries=0 _ac_status=0
    local -a _ac_cmd
    read -r -a _ac_cmd <<< "${AGENTCOMM_COMMAND:-agentcomm}"
    _ac_dir=$(mktemp -d "${TMPDIR:-/tmp}/agentcomm-session.XXXXXX") \
        && mkfifo -m 600 "$_ac_dir/requests" "$_ac_dir/responses" \
        || { _ac_error 1 error "cannot make the session's pipes under ${TMPDIR:-/tmp}" true
             return; }
    if [[ ! ${_AC_PIPE_BUF-} =~ ^[0-9]+$ ]]; then  # POSIX's floor when getconf cannot say
        _AC_PIPE_BUF=$(getconf PIPE_BUF "$_ac_dir/responses" 2> /dev/null) || _AC_PIPE_BUF=512
    fi
    # Requests read-write: a write never meets a missing reader (SIGPIPE would kill the
    # script).  Responses read-only, behind a writer held until the session has its own:
    # when the session's end closes, reads see end of file instead of waiting forever.
    exec {_ac_to}<>"$_ac_dir/requests" {_ac_hold}<>"$_ac_dir/responses" \
        {_ac_from}<"$_ac_dir/responses"
    "${_ac_cmd[@]}" "$@" session --stall "${AC_STALL:-10}" "$_ac_dir" < /dev/null > /dev/null &
    _ac_pid=$!
    until _ac_getline _ac_line "$_ac_from" 0.1; do
        if ! kill -0 "$_ac_pid" 2> /dev/null || (( ++_ac_tries > 600 )); then break; fi
    done
    exec {_ac_hold}>&-
    rm -rf -- "$_ac_dir"  # both ends are open: the names are no longer needed
    if [[ $_ac_line != ready ]]; then
        exec {_ac_to}>&- {_ac_from}<&-
        _ac_end "$_ac_pid"
        wait "$_ac_pid" 2> /dev/null || _ac_status=$?
        if (( _ac_status == 0 || _ac_status > 128 )); then  # not its own error: say why
            _ac_error 11 session_lost "the agentcomm session '$_ac_name' did not start (${_ac_cmd[*]} session)" true
            return
        fi
        return "$_ac_status"  # the session said why on stderr (a bad URL: 9, ...)
    fi
    disown "$_ac_pid"  # its end is seen on the pipes; bash need not report it as a job
    _AC_PID[$_ac_name]=$_ac_pid _AC_TO[$_ac_name]=$_ac_to _AC_FROM[$_ac_name]=$_ac_from
    _AC_OWNER[$_ac_name]=$BASHPID
    AC_SESSION=$_ac_name
    _ac_exit_trap
}

ac_close() {
    local _ac_name=${1:-$AC_SESSION}
    local _ac_pid=${_AC_PID[$_ac_name]-}
    [[ -n $_ac_pid ]] || return 0
    local _ac_to=${_AC_TO[$_ac_name]} _ac_from=${_AC_FROM[$_ac_name]} _ac_rest
    local _ac_owner=${_AC_OWNER[$_ac_name]}
    unset "_AC_PID[$_ac_name]" "_AC_TO[$_ac_name]" "_AC_FROM[$_ac_name]" "_AC_OWNER[$_ac_name]"
    if [[ $_ac_owner != "$BASHPID" ]]; then  # a subshell's copy: the opener's session lives on
        exec {_ac_to}>&- {_ac_from}<&-
        return 0
    fi
    _ac_end "$_ac_pid"
    # The session holds the only writer of the responses: end of file there means its
    # descriptors are closed.  Then wait for bash to reap it (a read on the idle requests
    # pipe is the pause), so no session outlives ac_close.  At most about 10 s.
    while IFS= read -r -t 5 -u "$_ac_from" _ac_rest; do :; done
    local _ac_tries=0
    while kill -0 "$_ac_pid" 2> /dev/null && (( _ac_tries++ < 500 )); do
        read -r -t 0.01 -u "$_ac_to" _ac_rest || true
    done
    exec {_ac_to}>&- {_ac_from}<&-
}

_ac_end() {  # SIGTERM, and SIGCONT so that a stopped session gets it too
    kill -TERM "$1" 2> /dev/null || true
    kill -CONT "$1" 2> /dev/null || true
}

_ac_on_exit() {
    local _ac_name
    for _ac_name in "${!_AC_OWNER[@]}"; do
        if [[ ${_AC_OWNER[$_ac_name]} == "$BASHPID" ]]; then ac_close "$_ac_name"; fi
    done
}

_ac_exit_trap() {  # run _ac_on_exit first in the EXIT trap, keeping the script's own
    local _ac_old
    _ac_old=$(trap -p EXIT)
    if [[ $_ac_old == *_ac_on_exit* ]]; then return 0; fi
    if [[ -z $_ac_old ]]; then
        trap _ac_on_exit EXIT
    else  # trap -p prints: trap -- 'COMMANDS' EXIT, quoted for reuse
        eval "trap -- '_ac_on_exit; '${_ac_old#trap -- }"
    fi
}

# -- calls ---------------------------------------------------------------------------------

ac_call() { _ac_run "" "$@"; }

ac_into() {
    if [[ ! ${1-} =~ ^[A-Za-z_][A-Za-z0-9_]*$ || $1 == _ac_* ]]; then
        _ac_error 2 usage "ac_into needs a variable name first, not '${1-}'" true
        return
    fi
    _ac_run "$@"
}

_ac_run() {  # _ac_run VAR|"" ARGS...: one call; stdout into VAR, or printed
    local _ac_var=$1 _ac_name=$AC_SESSION
    shift
    local _ac_pid=${_AC_PID[$_ac_name]-}
    if [[ -z $_ac_pid ]]; then
        _ac_error 11 session_lost "no agentcomm session '$_ac_name' is open: call ac_open first" true
        return
    fi
    local _ac_id=$BASHPID.$RANDOM _ac_flag=- _ac_text= _ac_arg _ac_size
    for _ac_arg; do
        if [[ $_ac_arg == - ]]; then
            if [[ -t 0 ]]; then
                _ac_flag=t
            elif IFS= read -r -d '' _ac_text; then  # stopped at a NUL, not at the end
                _ac_error 8 invalid_input "stdin holds a NUL byte, which no JSON text can" true
                return
            else
                _ac_flag=d
            fi
            break
        fi
    done
    local -a _ac_frame=(ac1 "$_ac_id" "$#" "$_ac_flag" "$@")
    if [[ $_ac_flag == d ]]; then _ac_frame+=("$_ac_text"); fi
    _ac_frame+=("$_ac_id")
    _ac_size="${_ac_frame[*]}"
    if ! kill -0 "$_ac_pid" 2> /dev/null \
            || { (( ${#_ac_size} > 16000 )) && _ac_stopped "$_ac_pid"; }; then
        _ac_lost "$_ac_name" "is gone or stopped; nothing was sent" true  # big frames would block
        return
    fi
    printf '%s\0' "${_ac_frame[@]}" >&"${_AC_TO[$_ac_name]}"
    _ac_answer "$_ac_name" "$_ac_id" "$_ac_var"
}

_ac_answer() {  # read responses until the one to call $2; skip signs of life
    local _ac_name=$1 _ac_id=$2 _ac_var=$3 LC_ALL=C IFS=' '  # C: lengths count bytes
    local _ac_from=${_AC_FROM[$_ac_name]} _ac_stall=${AC_STALL:-10}
    local _ac_line _ac_out _ac_err _ac_rc _ac_whole
    local -a _ac_head
    while :; do
        _ac_getline _ac_line "$_ac_from" "$_ac_stall" && _ac_rc=0 || _ac_rc=$?
        if (( _ac_rc > 128 )); then
            _ac_lost "$_ac_name" "gave no sign of life for $_ac_stall s (stopped?); the call's effect is unknown" false
            return
        elif (( _ac_rc )); then
            _ac_lost "$_ac_name" "ended during the call; its effect is unknown" false
            return
        fi
        [[ -n $_ac_line ]] || continue  # a sign of life while the command runs
        _ac_head=($_ac_line)  # ID CODE OUT ERR: no glob characters, split on spaces
        if [[ ${#_ac_head[@]} != 4 || ! ${_ac_head[1]}${_ac_head[2]}${_ac_head[3]} =~ ^[0-9]+$ ]]
        then
            _ac_lost "$_ac_name" "answered outside the protocol ('${_ac_line:0:40}')" false
            return
        fi
        # An answer of at most PIPE_BUF bytes came in one write, which a pipe takes whole:
        # with its first line here, the rest is too, and is read without a timeout (read
        # -t costs bash two system calls a byte).  A longer one may still be on its way.
        (( ${#_ac_line} + 1 + _ac_head[2] + _ac_head[3] <= _AC_PIPE_BUF )) && _ac_whole=1 || _ac_whole=
        if ! _ac_read_n _ac_out "${_ac_head[2]}" || ! _ac_read_n _ac_err "${_ac_head[3]}"; then
            _ac_lost "$_ac_name" "stopped in the middle of an answer" false
            return
        fi
        [[ ${_ac_head[0]} == "$_ac_id" ]] || continue  # the answer to a call abandoned earlier
        if [[ -n $_ac_var ]]; then
            printf -v "$_ac_var" '%s' "${_ac_out%$'\n'}"  # as $(...) would
        else
            printf '%s' "$_ac_out"
        fi
        if [[ -n $_ac_err ]]; then printf '%s' "$_ac_err" >&2; fi
        return "${_ac_head[1]}"
    done
}

_ac_getline() {  # _ac_getline VAR FD SECONDS: a line, as read -t, except that a timeout
    local _ac_part _ac_got= _ac_rc  # in the middle of a line (a busy machine) goes on
    while :; do
        IFS= read -r -t "$3" -u "$2" _ac_part && _ac_rc=0 || _ac_rc=$?
        _ac_got+=$_ac_part
        if (( _ac_rc == 0 || _ac_rc <= 128 || ${#_ac_part} == 0 )); then
            printf -v "$1" '%s' "$_ac_got"
            return "$_ac_rc"
        fi
    done
}

_ac_read_n() {  # _ac_read_n VAR N: exactly N bytes of the answer (in _ac_answer)
    local _ac_part _ac_got= _ac_rc
    local -a _ac_wait=(-t "$_ac_stall")
    if [[ -n $_ac_whole ]]; then _ac_wait=(); fi
    while (( ${#_ac_got} < $2 )); do
        read -r -N $(( $2 - ${#_ac_got} )) "${_ac_wait[@]}" -u "$_ac_from" _ac_part \
            && _ac_rc=0 || _ac_rc=$?
        _ac_got+=$_ac_part
        if (( _ac_rc != 0 && (_ac_rc <= 128 || ${#_ac_part} == 0) )); then return 1; fi
    done
    printf -v "$1" '%s' "$_ac_got"
}

_ac_lost() {  # _ac_lost NAME WHAT DEFINITE: report, and make sure it is gone
    local _ac_pid=${_AC_PID[$1]-}
    _ac_end "$_ac_pid"
    if [[ ${_AC_OWNER[$1]-} == "$BASHPID" ]]; then ac_close "$1"; fi
    _ac_error 11 session_lost "the agentcomm session '$1' (pid $_ac_pid) $2: ac_open it again" "$3"
}

_ac_stopped() {  # is process $1 stopped (SIGSTOP)?  Linux only; elsewhere: no
    local _ac_stat
    { IFS= read -r _ac_stat < "/proc/$1/stat"; } 2> /dev/null || return 1
    _ac_stat=${_ac_stat##*) }
    [[ ${_ac_stat%% *} == [Tt] ]]
}

_ac_error() {  # _ac_error STATUS CODE MESSAGE DEFINITE: a JSON error on stderr, as agentcomm's
    local _ac_text=$3
    _ac_text=${_ac_text//\\/\\\\}
    _ac_text=${_ac_text//\"/\\\"}
    _ac_text=${_ac_text//$'\n'/\\n}
    _ac_text=${_ac_text//$'\t'/\\t}
    printf '{"error": "%s", "message": "%s", "definite": %s}\n' "$2" "$_ac_text" "$4" >&2
    return "$1"
}

# -- agents ---------------------------------------------------------------------------------

ac_agent_start() {
    local -a _ac_cmd _ac_global=()
    read -r -a _ac_cmd <<< "${AGENTCOMM_COMMAND:-agentcomm}"
    if [[ ${1-} == --url ]]; then _ac_global=(--url "${2-}"); shift 2 || true; fi
    local _ac_dir _ac_fd _ac_line= _ac_pid _ac_tries=0 _ac_status=0 _ac_name _ac_x
    _ac_dir=$(mktemp -d "${TMPDIR:-/tmp}/agentcomm-agent.XXXXXX") \
        && mkfifo -m 600 "$_ac_dir/ready" \
        || { _ac_error 1 error "cannot make a FIFO under ${TMPDIR:-/tmp}" true; return; }
    exec {_ac_fd}<>"$_ac_dir/ready"
    (   # the agent keeps none of the script's session pipes open
        for _ac_name in "${!_AC_PID[@]}"; do
            _ac_x=${_AC_TO[$_ac_name]}; exec {_ac_x}>&-
            _ac_x=${_AC_FROM[$_ac_name]}; exec {_ac_x}<&-
        done
        exec {_ac_fd}>&-
        exec "${_ac_cmd[@]}" "${_ac_global[@]}" agent run "$@" --ready-file "$_ac_dir/ready"
    ) < /dev/null &
    _ac_pid=$!
    until _ac_getline _ac_line "$_ac_fd" 0.1; do
        if ! kill -0 "$_ac_pid" 2> /dev/null || (( ++_ac_tries > 600 )); then break; fi
    done
    exec {_ac_fd}>&-
    rm -rf -- "$_ac_dir"
    if [[ -z $_ac_line ]]; then
        _ac_end "$_ac_pid"
        wait "$_ac_pid" 2> /dev/null || _ac_status=$?
        return $(( _ac_status == 0 || _ac_status > 128 ? 1 : _ac_status ))  # it said why
    fi
    AC_AGENT_PID=$_ac_pid
}

# -- one function per command: ac_COMMAND ARGS... is `agentcomm COMMAND ARGS...` -----------

ac_init() { ac_call init "$@"; }
ac_send() { ac_call send "$@"; }
ac_request() { ac_call request "$@"; }
ac_reply() { ac_call reply "$@"; }
ac_receive() { ac_call receive "$@"; }
ac_claim() { ac_call claim "$@"; }
ac_extend() { ac_call extend "$@"; }
ac_complete() { ac_call complete "$@"; }
ac_fail() { ac_call fail "$@"; }
ac_release() { ac_call release "$@"; }
ac_get() { ac_call get "$@"; }
ac_get_reply() { ac_call get-reply "$@"; }
ac_publish() { ac_call publish "$@"; }
ac_subscribe() { ac_call subscribe "$@"; }
ac_unsubscribe() { ac_call unsubscribe "$@"; }
ac_events() { ac_call events "$@"; }
ac_tail() { ac_call tail "$@"; }
ac_register() { ac_call register "$@"; }
ac_heartbeat() { ac_call heartbeat "$@"; }
ac_deregister() { ac_call deregister "$@"; }
ac_agents() { ac_call agents "$@"; }
ac_dead_letters() { ac_call dead-letters "$@"; }
ac_stats() { ac_call stats "$@"; }
ac_sweep() { ac_call sweep "$@"; }
ac_purge() { ac_call purge "$@"; }
ac_reconcile() { ac_call reconcile "$@"; }
