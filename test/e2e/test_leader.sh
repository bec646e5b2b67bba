# e2e: leader election -- two controller replicas against the real
# apiserver, one Lease (coordination.k8s.io/v1) in gpuquota-system. Replicas
# run as local processes, like controller_start's controller, each with its
# own identity (POD_NAME), ports (replica 0: the usual CTL_* ports, which the
# apiserver's webhook configuration points at; replica 1: the same + 50),
# log and pid file.

LEASE_NAME=gpuquota-controller
# Short lease flags for the tests that kill and pause replicas; the defaults
# (15 s / 10 s / 2 s) are used by test_leader_a and test_leader_c.
LE_SHORT=(--leader-elect-lease-duration 4s --leader-elect-renew-deadline 3s --leader-elect-retry-period 1s)

rep_pidfile() { echo "$CLUSTER_DIR/pids/replica-$1.pid"; }
rep_log() { echo "$CLUSTER_DIR/logs/replica-$1.log"; }
rep_port() { # rep_port IDX metrics|health|webhook
	local off=$(($1 * 50))
	case $2 in
	metrics) echo $((CTL_METRICS_PORT + off)) ;;
	health) echo $((CTL_HEALTH_PORT + off)) ;;
	webhook) echo $((CTL_WEBHOOK_PORT + off)) ;;
	esac
}

# rep_start IDX [args]: replica IDX (0 or 1) named e2e-replica-IDX.
rep_start() {
	local i=$1
	shift
	controller_install
	POD_NAME=e2e-replica-$i setsid "$ROOT/bin/gpuquota-controller" run --kubeconfig "$CTL_KUBECONFIG" \
		--leader-elect --metrics-bind-address "127.0.0.1:$(rep_port "$i" metrics)" \
		--health-probe-bind-address "127.0.0.1:$(rep_port "$i" health)" \
		--webhook-bind-address "127.0.0.1:$(rep_port "$i" webhook)" --webhook-hosts 127.0.0.1 \
		--resync-period 15s --ledger-interval 1s --shutdown-grace 1s "$@" \
		>>"$(rep_log "$i")" 2>&1 </dev/null &
	echo $! >"$(rep_pidfile "$i")"
	disown $! 2>/dev/null || true
}

rep_pid() { cat "$(rep_pidfile "$1")" 2>/dev/null; }
rep_alive() { [ -n "$(rep_pid "$1")" ] && kill -0 "$(rep_pid "$1")" 2>/dev/null; }
rep_ready() { curl -sf "http://127.0.0.1:$(rep_port "$1" health)/readyz" >/dev/null; }

# rep_kill IDX SIGNAL: signals the replica and, unless STOP/CONT, waits for it to exit.
rep_kill() {
	local pid
	pid=$(rep_pid "$1")
	[ -n "$pid" ] || return 0
	kill "-$2" "$pid" 2>/dev/null || true
	case $2 in STOP | CONT) return 0 ;; esac
	wait_for 20 sh -c "! kill -0 $pid 2>/dev/null"
	rm -f "$(rep_pidfile "$1")"
}

rep_cleanup() {
	local i t
	for t in ${LE_TEAMS:-}; do
		$KUBECTL delete gta "$t" --ignore-not-found --wait=false >/dev/null 2>&1 || true
		# A leader releases the team's namespaces and pods.
		if rep_alive 0 || rep_alive 1; then
			wait_for 30 sh -c "! $KUBECTL get gta $t >/dev/null 2>&1" || true
		fi
	done
	for i in 0 1; do
		rep_alive "$i" && kill -CONT "$(rep_pid "$i")" 2>/dev/null
		rep_alive "$i" && rep_kill "$i" TERM
	done
	# The next tests' controller takes the lease at once.
	$KUBECTL -n gpuquota-system delete lease $LEASE_NAME --ignore-not-found >/dev/null 2>&1 || true
}

# rep_metric IDX NAME: an unlabelled metric of replica IDX.
rep_metric() {
	curl -sf --max-time 5 "http://127.0.0.1:$(rep_port "$1" metrics)/metrics" | awk -v m="$2" '$1 == m {print $2}'
}
rep_leads() { [ "$(rep_metric "$1" gpuquota_leader)" = 1 ]; }
rep_follows() { [ "$(rep_metric "$1" gpuquota_leader)" = 0 ]; }

lease_holder() { jp lease/$LEASE_NAME '{.spec.holderIdentity}' gpuquota-system 2>/dev/null; }
holder_is() { [ "$(lease_holder)" = "$1" ]; }

# leader_idx: the index of the replica whose metric says it leads (exactly one).
leader_idx() {
	local i n=0 who=
	for i in 0 1; do
		rep_alive "$i" && rep_leads "$i" && n=$((n + 1)) && who=$i
	done
	[ $n = 1 ] && echo "$who"
}
one_leader() { [ -n "$(leader_idx)" ]; }

now_ms() { date +%s%3N; }

# wait_leads IDX TIMEOUT_S: polls every 0.1 s; prints the ms it took.
wait_leads() {
	local t0 deadline
	t0=$(now_ms)
	deadline=$((t0 + $2 * 1000))
	while [ "$(now_ms)" -lt $deadline ]; do
		if rep_leads "$1"; then
			echo $(($(now_ms) - t0))
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# review_json NS NAME GPUS: an AdmissionReview (CREATE) of a GPU pod.
review_json() {
	gpu_pod_yaml "$1" "$2" "$3" | $KUBECTL create --dry-run=client -o json -f - |
		jq -c --arg ns "$1" '{apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview",
			request: {uid: "e2e-leader", kind: {group: "", version: "v1", kind: "Pod"},
				resource: {group: "", version: "v1", resource: "pods"}, namespace: $ns,
				operation: "CREATE", userInfo: {username: "e2e"}, object: .}}'
}

# review IDX JSON: the answer of replica IDX's webhook (the response part).
review() {
	local ca
	ca=$(mktemp)
	jp secret/gpuquota-webhook-tls '{.data.ca\.crt}' gpuquota-system | base64 -d >"$ca"
	curl -sf --max-time 5 --cacert "$ca" -H 'Content-Type: application/json' \
		--data-binary "$2" "https://127.0.0.1:$(rep_port "$1" webhook)/admit/pods" | jq -cS .response
	rm -f "$ca"
}

# point_webhook IDX: the apiserver calls replica IDX's webhook.
point_webhook() {
	"$ROOT/test/cluster/webhook-local.sh" "$KUBECTL" "$(rep_port "$1" webhook)"
	# webhook-local.sh re-applies the configuration without a CA bundle:
	# put the Secret's back (each replica injects it only at start).
	$KUBECTL patch mutatingwebhookconfiguration gpuquota --type json -p \
		"[{\"op\":\"add\",\"path\":\"/webhooks/0/clientConfig/caBundle\",\"value\":\"$(jp secret/gpuquota-webhook-tls '{.data.ca\.crt}' gpuquota-system)\"}]" >/dev/null
}

# The answers that must not depend on the replica: a denial (message
# included) for an exhausted team, the default class for a team with budget.
same_answers() {
	local a b
	a=$(review 0 "$1") && b=$(review 1 "$1") && [ -n "$a" ] && [ "$a" = "$b" ]
}

test_leader_a_two_replicas_one_leader_same_admission() {
	LE_TEAMS="ldeny lok"
	trap rep_cleanup EXIT
	controller_stop
	rep_cleanup
	rep_start 0
	rep_start 1
	wait_for 40 rep_ready 0
	wait_for 40 rep_ready 1
	wait_for 20 one_leader
	local l f holder
	l=$(leader_idx)
	f=$((1 - l))
	holder=$(lease_holder)
	assert_eq "$holder" "e2e-replica-$l" "the Lease holder is the replica whose gpuquota_leader is 1"
	assert_eq "$(rep_metric "$f" gpuquota_leader)" 0 "the other replica reports 0"
	assert_eq "$(jp lease/$LEASE_NAME '{.spec.leaseDurationSeconds}' gpuquota-system)" 15 "default lease duration"
	[[ "$(jp lease/$LEASE_NAME '{.spec.renewTime}' gpuquota-system)" =~ \.[0-9]{6}Z$ ]] || fail "renewTime is not a MicroTime"
	# A team with a spent budget, and one with budget left.
	new_ns e2e-ldeny
	new_ns e2e-lok
	budget_team ldeny e2e-ldeny Deny 0.001 Monthly
	budget_team lok e2e-lok Deny 100 Monthly
	wait_for 30 team_ready ldeny
	wait_for 30 team_ready lok
	point_webhook "$l"
	wait_for 30 webhook_serves e2e-ldeny ldeny-work
	spend ldeny e2e-ldeny
	wait_for 60 sh -c "! $KUBECTL -n e2e-ldeny get pods -o jsonpath='{.items[*].metadata.finalizers}' | grep -q gpuquota.io/accounting"
	# Both webhooks answer the same review the same way, from their own state.
	local deny ok out
	deny=$(review_json e2e-ldeny late 1)
	ok=$(review_json e2e-lok fine 1)
	wait_for 20 same_answers "$deny"
	wait_for 20 same_answers "$ok"
	out=$(review "$f" "$deny")
	echo "    follower's answer: $(echo "$out" | jq -c '{allowed, message: .status.message}')"
	assert_eq "$(echo "$out" | jq -r .allowed)" false "the follower denies for the spent budget"
	assert_contains "$(echo "$out" | jq -r .status.message)" "team ldeny has used" "the follower's message"
	assert_eq "$(review "$f" "$ok" | jq -r .allowed)" true "the follower admits with budget left"
	# Through the apiserver, with the webhook pointing at the follower.
	point_webhook "$f"
	wait_for 30 webhook_serves e2e-lok lok-work
	out=$(gpu_pod_yaml e2e-ldeny late 1 | $KUBECTL apply -f - 2>&1) && fail "GPU pod admitted: $out"
	assert_contains "$out" "team ldeny has used" "the apiserver gets the follower's denial"
	gpu_pod_yaml e2e-lok fine 1 | $KUBECTL apply -f - >/dev/null
	assert_contains "$(jp pod/fine '{.metadata.finalizers}' e2e-lok)" gpuquota.io/accounting \
		"the follower's webhook added the accounting finalizer"
	assert_eq "$(jp pod/fine '{.spec.priorityClassName}' e2e-lok)" lok-work "the follower's webhook set the default tier"
	# Default flags: SIGKILL the leader; the other leads within 15 s + 2 s.
	local ms
	rep_kill "$l" KILL
	ms=$(wait_leads "$f" 30) || fail "no takeover after SIGKILL"
	echo "    SIGKILL of the leader, default lease 15 s: replica $f leads after ${ms} ms"
	[ "$ms" -le 17000 ] || fail "takeover took ${ms} ms (> lease duration + 2 s)"
	assert_eq "$(lease_holder)" "e2e-replica-$f" "the Lease moved"
	[ "$(jp lease/$LEASE_NAME '{.spec.leaseTransitions}' gpuquota-system)" -ge 1 ] || fail "leaseTransitions not incremented"
	assert_eq "$(review "$f" "$deny" | jq -r .allowed)" false "the webhook keeps answering"
	point_webhook 0
}

test_leader_b_failover_by_sigkill_keeps_the_ledger_exact() {
	LE_TEAMS=lfail
	trap rep_cleanup EXIT
	controller_stop
	rep_cleanup
	local ns=e2e-lfail truth=0 used diff i l f ms p times=()
	rep_start 0 "${LE_SHORT[@]}"
	rep_start 1 "${LE_SHORT[@]}"
	wait_for 40 rep_ready 0
	wait_for 40 rep_ready 1
	wait_for 20 one_leader
	new_ns $ns
	apply_team lfail "  namespaces: [$ns]
  quota: {gpus: 16}
  priorities: {tiers: [{name: work, value: 1000}], defaultTier: work}
  budget: {gpuHours: \"100\", period: Monthly, onExhausted: Deny}"
	wait_for 30 team_ready lfail
	declare -A gpus=([f1]=1 [f2]=2 [f3]=1 [f4]=3 [f5]=2)
	class_pod $ns f1 1 20s lfail-work
	class_pod $ns f2 2 30s lfail-work
	class_pod $ns f3 1 25s lfail-work
	for i in 1 2 3 4; do
		sleep $((2 + RANDOM % 3))
		l=$(leader_idx) || true
		[ -n "$l" ] || { wait_for 20 one_leader && l=$(leader_idx); }
		f=$((1 - l))
		rep_kill "$l" KILL
		ms=$(wait_leads "$f" 30) || fail "no takeover after SIGKILL $i"
		times+=("$ms")
		# client-go's bound is the lease plus one retry period (the survivor
		# notices the expiry at its next attempt) plus the requests: 4 + 1 + 2 s.
		[ "$ms" -le 7000 ] || fail "takeover $i took ${ms} ms (> lease 4 s + retry 1 s + 2 s)"
		# The survivor's webhook keeps answering.
		[ -n "$(review "$f" "$(review_json $ns probe 1)")" ] || fail "no webhook answer after failover $i"
		case $i in
		2) class_pod $ns f4 3 20s lfail-work ;;
		3) class_pod $ns f5 2 15s lfail-work ;;
		esac
		rep_start "$l" "${LE_SHORT[@]}"
		wait_for 40 rep_ready "$l"
	done
	echo "    SIGKILL failovers (lease 4 s, renew 3 s, retry 1 s): ${times[*]} ms"
	for p in f1 f2 f3 f4 f5; do wait_for 90 phase_is $ns $p Succeeded; done
	wait_for 60 sh -c "! $KUBECTL -n $ns get pods -o jsonpath='{.items[*].metadata.finalizers}' | grep -q gpuquota.io/accounting"
	for p in f1 f2 f3 f4 f5; do
		local s e
		s=$(jp pod/$p '{.status.startTime}' $ns)
		e=$(jp pod/$p '{.status.containerStatuses[0].state.terminated.finishedAt}' $ns)
		truth=$((truth + ($(date -d "$e" +%s) - $(date -d "$s" +%s)) * 1000 * ${gpus[$p]}))
	done
	wait_for 30 sh -c "[ \"\$($KUBECTL get gta lfail -o jsonpath='{.status.usage.usedMicroGPUSeconds}')\" -ge $((truth * 1000 - 5000000)) ]"
	sleep 3
	used=$(jp gta/lfail '{.status.usage.usedMicroGPUSeconds}')
	diff=$((used / 1000 - truth))
	echo "    failover ledger: ground truth $truth mGPU-s, ledger $((used / 1000)) mGPU-s, difference ${diff} mGPU-s over 5 pods"
	[ "${diff#-}" -le 5000 ] || fail "ledger off by ${diff} milli GPU-seconds (tolerance 1 GPU-second per pod)"
}

test_leader_c_sigterm_releases_the_lease() {
	LE_TEAMS=
	trap rep_cleanup EXIT
	controller_stop
	rep_cleanup
	local l f ms watch_out wpid
	rep_start 0
	rep_start 1
	wait_for 40 rep_ready 0
	wait_for 40 rep_ready 1
	wait_for 20 one_leader
	l=$(leader_idx)
	f=$((1 - l))
	watch_out=$(mktemp)
	$KUBECTL -n gpuquota-system get lease $LEASE_NAME -w \
		-o jsonpath='{"holder="}{.spec.holderIdentity}{"\n"}' >"$watch_out" 2>/dev/null &
	wpid=$!
	sleep 1
	kill -TERM "$(rep_pid "$l")"
	ms=$(wait_leads "$f" 30) || fail "no takeover after SIGTERM"
	rep_kill "$l" TERM
	sleep 1
	kill $wpid 2>/dev/null || true
	echo "    SIGTERM of the leader (default lease 15 s): replica $f leads after ${ms} ms"
	grep -q "leader election: lease released" "$(rep_log "$l")" || fail "no release logged"
	grep -qx "holder=" "$watch_out" || fail "the Lease was never seen with its holder cleared: $(tr '\n' ' ' <"$watch_out")"
	rm -f "$watch_out"
	# Well under the lease duration: the retry period (2 s) plus a margin.
	[ "$ms" -le 7000 ] || fail "takeover after a release took ${ms} ms"
	assert_eq "$(lease_holder)" "e2e-replica-$f" "the other holds the Lease"
}

test_leader_d_paused_leader_makes_no_write_after_it_lost() {
	LE_TEAMS=lstop
	trap rep_cleanup EXIT
	controller_stop
	rep_cleanup
	local ns=e2e-lstop l f w0 w1 w r0 r ms i
	# A running GPU pod under a budget, its usage written every second
	# (--ledger-write-interval 1s; the default writes it once a minute), so
	# a resumed ex-leader would have writes to make at once.
	rep_start 0 "${LE_SHORT[@]}" --ledger-write-interval 1s
	rep_start 1 "${LE_SHORT[@]}" --ledger-write-interval 1s
	wait_for 40 rep_ready 0
	wait_for 40 rep_ready 1
	wait_for 20 one_leader
	new_ns $ns
	budget_team lstop $ns Deny 100 Monthly
	wait_for 30 team_ready lstop
	gpu_pod_yaml $ns busy 1 120s | $KUBECTL apply -f - >/dev/null
	wait_for 30 phase_is $ns busy Running
	l=$(leader_idx)
	f=$((1 - l))
	w0=$(rep_metric "$l" gpuquota_api_writes_total)
	kill -STOP "$(rep_pid "$l")"
	ms=$(wait_leads "$f" 30) || fail "no takeover from a paused leader"
	echo "    SIGSTOP of the leader (lease 4 s): replica $f leads after ${ms} ms"
	sleep 6 # well past the lease duration
	kill -CONT "$(rep_pid "$l")"
	w1=$(rep_metric "$l" gpuquota_api_writes_total)
	r0=$(rep_metric "$l" gpuquota_api_writes_refused_total)
	wait_for 10 rep_follows "$l"
	wait_for 10 grep -q "leadership lost" "$(rep_log "$l")"
	# Ten seconds as a follower: its write count does not move.
	for i in $(seq 1 10); do
		sleep 1
		w=$(rep_metric "$l" gpuquota_api_writes_total)
		assert_eq "$w" "$w1" "writes of the resumed ex-leader (t=${i}s)"
		rep_follows "$l" || fail "the ex-leader leads again while the other holds the Lease"
	done
	r=$(rep_metric "$l" gpuquota_api_writes_refused_total)
	echo "    resumed ex-leader: writes before SIGSTOP $w0, right after SIGCONT $w1, 10 s later $w; writes refused by the gate: $r0 then $r"
	assert_eq "$(lease_holder)" "e2e-replica-$f" "the new leader keeps the Lease"
	# Once the other goes, it leads and writes again.
	rep_kill "$f" TERM
	wait_for 20 rep_leads "$l"
	wait_for 20 sh -c "[ \"\$(curl -sf http://127.0.0.1:$(rep_port "$l" metrics)/metrics | awk '\$1 == \"gpuquota_api_writes_total\" {print \$2}')\" -gt $w1 ]"
	$KUBECTL -n $ns delete pod busy --wait=false >/dev/null
}
