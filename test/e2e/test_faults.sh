# e2e: the GPU-hour ledger under injected faults. One round runs 10 GPU pods
# (1-3 GPUs, most with run-for) through controller SIGKILLs (pods created and
# deleted while it is down, a second kill right after start), kube-apiserver
# restarts with the same flags, an etcd compaction at the current revision
# followed by a controller kill and an apiserver restart (watches resume from
# a compacted revision), an etcd SIGKILL and restart, the apiserver
# unreachable for longer than the watch timeout (a TCP proxy between the
# controller and the apiserver, stalled), and a period rollover while the
# proxy refuses every connection (a pod deleted and pods finishing during
# that outage). The ledger (usage plus history) must equal the ground truth
# from the pods' own startTime/finishedAt within 1 GPU-second per pod, in
# total and per period.
#
# FAULT_ROUNDS=N repeats the round N times (default 1) with randomized
# timings; each round prints its seed, and FAULT_SEED=S FAULT_ROUNDS=1
# replays a round's timings. Every wait is bounded.

FAULT_PROXY_PORT=$((APISERVER_PORT + 1))
FAULT_DIR="$CLUSTER_DIR/faults"

fault_log() { printf '    [faults %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

# fault_proxy_mode run|pause|cut
fault_proxy_mode() {
	echo "$1" >"$FAULT_DIR/proxy.mode"
	sleep 0.3
}

# fault_proxy_start HOST: the proxy on HOST:FAULT_PROXY_PORT to HOST:APISERVER_PORT.
fault_proxy_start() {
	mkdir -p "$FAULT_DIR"
	echo run >"$FAULT_DIR/proxy.mode"
	if [ -f "$FAULT_DIR/proxy.pid" ] && kill -0 "$(cat "$FAULT_DIR/proxy.pid")" 2>/dev/null; then
		return 0
	fi
	setsid python3 "$ROOT/test/e2e/tcp-proxy.py" "$FAULT_PROXY_PORT" "$APISERVER_PORT" \
		"$FAULT_DIR/proxy.mode" "$1" >"$CLUSTER_DIR/logs/tcp-proxy.log" 2>&1 </dev/null &
	echo $! >"$FAULT_DIR/proxy.pid"
	wait_for 10 bash -c "(exec 3<>/dev/tcp/$1/$FAULT_PROXY_PORT) 2>/dev/null"
}

fault_proxy_stop() {
	[ -f "$FAULT_DIR/proxy.pid" ] || return 0
	kill "$(cat "$FAULT_DIR/proxy.pid")" 2>/dev/null || true
	rm -f "$FAULT_DIR/proxy.pid"
}

api_ready() { $KUBECTL get --raw /readyz >/dev/null 2>&1; }

# fault_ctl_start: the controller through the proxy, short watch timeout.
fault_ctl_start() {
	CTL_KUBECONFIG="$FAULT_DIR/controller.kubeconfig" controller_start --watch-timeout 10s
}

fault_ctl_kill() {
	kill -KILL "$(cat "$CTL_PIDFILE")" 2>/dev/null || true
	wait_for 10 sh -c "! kill -0 $(cat "$CTL_PIDFILE") 2>/dev/null"
	rm -f "$CTL_PIDFILE"
}

# fault_sleep MIN SPREAD: sleep MIN + [0, SPREAD) seconds (seeded RANDOM).
fault_sleep() { sleep $(($1 + RANDOM % $2)); }

all_ended() {
	! $KUBECTL -n "$1" get pods -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' |
		grep -qv -e Succeeded -e Failed
}

none_held_by_ledger() {
	! grep -q gpuquota.io/accounting <<<"$($KUBECTL -n "$1" get pods -o jsonpath='{.items[*].metadata.finalizers}')"
}

# fault_round N SEED: one round; appends its figures to $FAULT_DIR/rounds.
fault_round() {
	local n=$1 seed=$2 team ns t0 i g pe now wait_s rev out rc
	RANDOM=$seed
	team=fault$n ns=e2e-fault$n t0=$(date +%s)
	fault_log "round $n: seed $seed"
	new_ns "$ns"
	apply_team "$team" "  namespaces: [$ns]
  quota: {gpus: 32}
  priorities: {tiers: [{name: work, value: 1000}], defaultTier: work}
  budget: {gpuHours: \"100\", period: \"1m\", onExhausted: Deny}"
	wait_for 60 team_ready "$team"
	wait_for 60 webhook_serves "$ns" "$team-work"
	declare -A gp
	for i in 1 2 3 4 5 6 7 8; do
		g=$((1 + RANDOM % 3))
		gp[p$i]=$g
		if [ $i = 8 ]; then class_pod "$ns" p$i $g "" "$team-work" test.gpuquota.io/hold; else class_pod "$ns" p$i $g "$((25 + RANDOM % 40))s" "$team-work" test.gpuquota.io/hold; fi
	done
	fault_sleep 3 5
	fault_log "SIGKILL the controller; create p9, p10 and delete p7 while it is down"
	fault_ctl_kill
	class_pod "$ns" p9 $((1 + RANDOM % 3)) "$((20 + RANDOM % 30))s" "$team-work" test.gpuquota.io/hold
	class_pod "$ns" p10 $((1 + RANDOM % 3)) "$((20 + RANDOM % 30))s" "$team-work" test.gpuquota.io/hold
	wait_for 30 phase_is "$ns" p7 Running
	$KUBECTL -n "$ns" delete pod p7 --wait=false >/dev/null
	fault_sleep 2 4
	fault_ctl_start
	sleep "0.$((RANDOM % 10))"
	fault_log "SIGKILL right after start"
	fault_ctl_kill
	fault_ctl_start
	fault_sleep 1 4
	fault_log "kube-apiserver restart (controller up)"
	"$ROOT/test/cluster/restart-component.sh" kube-apiserver --down "$((RANDOM % 4))" --wait 90
	fault_sleep 2 4
	rev=$("$CLUSTER_DIR/bin/etcdctl" --endpoints "http://127.0.0.1:$ETCD_PORT" endpoint status -w json |
		python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["header"]["revision"])')
	fault_log "etcd compaction at revision $rev, SIGKILL the controller, apiserver restart"
	"$CLUSTER_DIR/bin/etcdctl" --endpoints "http://127.0.0.1:$ETCD_PORT" compact "$rev" >/dev/null
	fault_ctl_kill
	"$ROOT/test/cluster/restart-component.sh" kube-apiserver --down "$((RANDOM % 3))" --wait 90
	fault_ctl_start
	fault_sleep 2 4
	fault_log "etcd SIGKILL and restart (controller up)"
	"$ROOT/test/cluster/restart-component.sh" etcd --kill --down "$((1 + RANDOM % 3))" --wait 60
	wait_for 90 api_ready
	fault_sleep 2 4
	wait_s=$((12 + RANDOM % 8))
	fault_log "proxy stalled ${wait_s}s (watch timeout 10s): pods finish meanwhile"
	fault_proxy_mode pause
	sleep "$wait_s"
	fault_proxy_mode run
	# A rollover while the controller cannot reach the apiserver: cut the
	# proxy a few seconds before the period ends, delete p8 meanwhile.
	wait_for 60 sh -c "[ -n \"\$($KUBECTL get gta $team -o jsonpath='{.status.usage.periodEnd}')\" ]"
	pe=$(date -d "$(jp "gta/$team" '{.status.usage.periodEnd}')" +%s)
	now=$(date +%s)
	[ $((pe - now)) -lt 8 ] && pe=$((pe + 60))
	sleep $((pe - now - 2 - RANDOM % 4))
	wait_s=$((pe - $(date +%s) + 3 + RANDOM % 5))
	fault_log "proxy cut ${wait_s}s across the period end $(date -u -d @$pe +%H:%M:%S); delete p8 meanwhile"
	fault_proxy_mode cut
	sleep 1
	$KUBECTL -n "$ns" delete pod p8 --wait=false >/dev/null
	sleep $((wait_s - 1))
	fault_proxy_mode run
	wait_for 180 all_ended "$ns"
	wait_for 90 none_held_by_ledger "$ns"
	sleep 2
	$KUBECTL -n "$ns" get pods -o json >"$FAULT_DIR/pods-$n.json"
	$KUBECTL get gta "$team" -o json >"$FAULT_DIR/gta-$n.json"
	out=$(python3 "$ROOT/test/e2e/ledger_truth.py" "$FAULT_DIR/pods-$n.json" "$FAULT_DIR/gta-$n.json")
	rc=$?
	echo "round=$n seed=$seed secs=$(($(date +%s) - t0)) $out" >>"$FAULT_DIR/rounds"
	echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("    round %s: truth %.3f GPU-s, ledger %.3f GPU-s, difference %.3f GPU-s, worst period %.3f GPU-s, %d pods, %d periods, %s" % (sys.argv[1], d["truth_micro"]/1e6, d["ledger_micro"]/1e6, d["diff_micro"]/1e6, d["worst_period_diff_micro"]/1e6, d["pods"], len(d["periods"]), "ok" if d["ok"] else "MISMATCH"))' "$n"
	# Let the pods go: the test's finalizer off, then the pods, the team.
	for i in $($KUBECTL -n "$ns" get pods -o name); do
		$KUBECTL -n "$ns" patch "$i" --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null 2>&1 || true
	done
	$KUBECTL -n "$ns" delete pods --all --wait=false >/dev/null 2>&1 || true
	$KUBECTL delete gta "$team" --wait=false >/dev/null 2>&1 || true
	$KUBECTL delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
	fault_log "round $n done in $(($(date +%s) - t0))s"
	[ $rc -eq 0 ] || fail "round $n (seed $seed): ledger differs from the pods' timestamps: $out"
}

test_faults_ledger_exact() {
	local rounds=${FAULT_ROUNDS:-1} seed=${FAULT_SEED:-$(((RANDOM << 15) | RANDOM))} r failed=0 host
	controller_stop
	controller_install
	# The apiserver's address (loopback, or the real node's host side).
	host=$(sed -n "s#.*server: \"https://\([^:\"]*\):$APISERVER_PORT\".*#\1#p" "$CTL_KUBECONFIG")
	[ -n "$host" ] || fail "no apiserver address in $CTL_KUBECONFIG"
	fault_proxy_start "$host"
	sed "s#server: \"https://$host:$APISERVER_PORT\"#server: \"https://$host:$FAULT_PROXY_PORT\"#" \
		"$CTL_KUBECONFIG" >"$FAULT_DIR/controller.kubeconfig"
	grep -q "$FAULT_PROXY_PORT" "$FAULT_DIR/controller.kubeconfig" || fail "controller kubeconfig not pointed at the proxy"
	chmod 600 "$FAULT_DIR/controller.kubeconfig"
	: >"$FAULT_DIR/rounds"
	fault_ctl_start
	for ((r = 1; r <= rounds; r++)); do
		fault_round "$r" $((seed + r - 1)) || failed=$((failed + 1))
		fault_proxy_mode run
		api_ready || wait_for 90 api_ready
		controller_running || fault_ctl_start
	done
	controller_stop
	fault_proxy_stop
	echo "    faults: $rounds rounds, $failed failed (figures in $FAULT_DIR/rounds)"
	[ $failed -eq 0 ]
}
