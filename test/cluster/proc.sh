# shellcheck shell=bash
# proc.sh - the test bed's process helpers, sourced by cluster-up.sh,
# cluster-down.sh and node.sh. The caller sets CLUSTER_DIR, PIDS and LOGS
# (wait_for also wants a die function).

# launch NAME CMD...: start CMD in a session (and process group) of its own,
# so that stop (and cluster-down) can end it together with any children it
# spawned. The exact command line is kept in $CLUSTER_DIR/cmd/NAME
# (shell-quoted), so test/cluster/restart-component.sh can start it again
# with the same flags.
launch() {
	local name=$1
	shift
	mkdir -p "$CLUSTER_DIR/cmd"
	printf '%q ' "$@" >"$CLUSTER_DIR/cmd/$name"
	setsid "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
	echo $! >"$PIDS/$name.pid"
}

# wait_for WHAT SECONDS CMD...: until CMD succeeds, else die.
wait_for() {
	local what=$1 secs=$2 i
	shift 2
	for ((i = 0; i < secs * 5; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	die "$what did not become ready in ${secs}s (logs in $LOGS)"
}

# ours NAME: prints the pid of component NAME if it still runs what was
# launched (pids get reused).
ours() {
	local f="$PIDS/$1.pid" pid
	[ -f "$f" ] || return 1
	pid=$(cat "$f")
	kill -0 "$pid" 2>/dev/null || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$1" || return 1
	echo "$pid"
}

# stop NAME...: TERM each component's process group, KILL what is left
# after 10 s. Prints how many it stopped.
stop() {
	local c pid pids=() i left
	for c in "$@"; do
		if pid=$(ours "$c"); then
			kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
			pids+=("$pid")
		fi
	done
	for ((i = 0; i < 100; i++)); do
		left=0
		for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && left=1; done
		[ $left = 0 ] && break
		sleep 0.1
	done
	for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null; done
	STOPPED=${#pids[@]}
	return 0
}
