# e2e: the operator as shipped -- manifests/ through the bed's overlay
# (test/cluster/real-node-overlay/: the real node's toleration and selector,
# nothing else), two replicas in real containers on the real node, the
# webhook called by the apiserver through its Service, leader election with
# the Deployment's flags (lease 15 s, renew 10 s, retry 2 s). The GPU pods
# admitted stay on the simulated nodes. The tests run in order (a: install,
# b: failover, c: a paused replica, d: rolling update, e: uninstall); each
# installs what it needs when run alone, and e leaves the cluster as the
# other tests expect (the out-of-cluster controller's setup).

HA_NS=gpuquota-system
HA_SEL=app.kubernetes.io/component=controller
HA_DEPLOY="$CLUSTER_DIR/ha-deploy"
HA_NODE_CTR="ctr --address $CLUSTER_DIR/node/run/containerd.sock -n k8s.io"
HA_LEASE=15 # the Deployment's --leader-elect-lease-duration (the default)

# ha_live_pods: the replicas not being deleted.
ha_live_pods() {
	$KUBECTL -n $HA_NS get pods -l $HA_SEL -o json |
		jq -r '.items[] | select(.metadata.deletionTimestamp == null) | .metadata.name'
}
ha_ip() { jp "pod/$1" '{.status.podIP}' $HA_NS; }
# ha_metric POD NAME: an unlabelled metric of a replica, through its pod IP
# (routed from the host into the node's network namespace).
ha_metric() {
	local ip
	ip=$(ha_ip "$1")
	[ -n "$ip" ] || return 1
	curl -sf --max-time 2 "http://$ip:8080/metrics" | awk -v m="$2" '$1 == m {print $2}'
}
ha_holder() { jp lease/gpuquota-controller '{.spec.holderIdentity}' $HA_NS; }
# ha_leaders: the replicas whose gpuquota_leader is 1.
ha_leaders() {
	local p
	for p in $(ha_live_pods); do
		if [ "$(ha_metric "$p" gpuquota_leader)" = 1 ]; then echo "$p"; fi
	done
	return 0
}
ha_ready_count() {
	$KUBECTL -n $HA_NS get pods -l $HA_SEL -o json | jq '[.items[] | select(.metadata.deletionTimestamp == null) |
		select(any(.status.conditions[]?; .type == "Ready" and .status == "True"))] | length'
}
ha_two_ready() { [ "$(ha_ready_count)" = 2 ]; }
# ha_one_leader: exactly one replica leads, and it holds the Lease.
ha_one_leader() {
	local l
	l=$(ha_leaders)
	[ -n "$l" ] && [ "$(echo "$l" | wc -l)" = 1 ] && [ "$(ha_holder)" = "$l" ]
}
# ha_pid POD: the host pid of the replica's container process.
ha_pid() {
	local id
	id=$(jp "pod/$1" '{.status.containerStatuses[0].containerID}' $HA_NS | sed 's|^containerd://||')
	[ -n "$id" ] && $HA_NODE_CTR tasks ls | awk -v id="$id" '$1 == id {print $2}'
}
ha_restarts() { jp "pod/$1" '{.status.containerStatuses[0].restartCount}' $HA_NS; }
# The apiserver's own count of calls to our webhook that failed open
# (failurePolicy: Ignore): connection refused, timeouts, errors.
ha_fail_open() {
	$KUBECTL get --raw /metrics | awk '/^apiserver_admission_webhook_fail_open_count\{/ && /pods.gpuquota.io/ {s += $2} END {print s + 0}'
}

# ha_install: the image built and imported, the operator applied with
# kubectl apply -k, both replicas Ready (no-op when already so).
ha_install() {
	node_check
	local out ref archive
	out=$(make -s -C "$ROOT" image 2>&1) || fail "make image: $out"
	ref=$(printf '%s\n' "$out" | sed -n 's/^image: \(localhost\/.*\)$/\1/p' | tail -n 1)
	archive=$(printf '%s\n' "$out" | sed -n 's/^archive: //p' | tail -n 1)
	[ -n "$ref" ] && [ -f "$ROOT/$archive" ] || fail "no image from make image: $out"
	if [ -f "$HA_DEPLOY/kustomization.yaml" ] && ha_two_ready 2>/dev/null &&
		[ "$(jp deployment/gpuquota-controller '{.spec.template.spec.containers[0].image}' $HA_NS)" = "$ref" ]; then
		return 0
	fi
	$HA_NODE_CTR images import "$ROOT/$archive" >/dev/null
	# One controller at a time: the out-of-cluster one stops, its Lease goes.
	controller_stop
	$KUBECTL -n $HA_NS delete lease gpuquota-controller --ignore-not-found >/dev/null 2>&1 || true
	mkdir -p "$HA_DEPLOY"
	cat >"$HA_DEPLOY/kustomization.yaml" <<Y
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [$(realpath --relative-to "$HA_DEPLOY" "$ROOT/test/cluster/real-node-overlay")]
images: [{name: localhost/gpuquota-controller, newTag: "${ref##*:}"}]
Y
	$KUBECTL apply --server-side --force-conflicts -k "$HA_DEPLOY" >/dev/null
	$KUBECTL -n $HA_NS rollout status deployment gpuquota-controller --timeout 180s >/dev/null ||
		fail "Deployment not ready: $($KUBECTL -n $HA_NS get pods -o wide 2>&1)"
	wait_for 60 ha_two_ready
	wait_for 60 ha_one_leader
}

# ha_teams: a team with its budget spent (Deny) and one with budget left.
ha_teams() {
	if ! cond_is hadeny BudgetExhausted True 2>/dev/null; then
		new_ns e2e-hadeny
		budget_team hadeny e2e-hadeny Deny 0.001 Monthly
		wait_for 60 team_ready hadeny
		wait_for 60 webhook_serves e2e-hadeny hadeny-work
		spend hadeny e2e-hadeny
	fi
	if ! team_ready haok 2>/dev/null; then
		new_ns e2e-haok
		apply_team haok "  namespaces: [e2e-haok]
  quota: {gpus: 24}
  priorities: {tiers: [{name: work, value: 1000}], defaultTier: work}
  budget: {gpuHours: \"100\", period: Monthly, onExhausted: Deny}"
		wait_for 60 team_ready haok
		wait_for 60 webhook_serves e2e-haok haok-work
	fi
}

# ha_admit_once I: one admission through the apiserver and the Service, as
# kubectl sees it: a server-side dry run of a GPU pod of haok (the webhook
# sets the default class and its finalizer), every third one a real pod
# (runs 2 s on a simulated node), and one of hadeny (the webhook's denial;
# the guard quota's message would mean it was skipped). Prints "ok" or
# "fail: what came back".
ha_admit_once() {
	local i=$1 out dry=(--dry-run=server)
	[ $((i % 3)) = 0 ] && dry=()
	out=$(gpu_pod_yaml e2e-haok "probe-$(date +%s%3N)" 1 2s | $KUBECTL create "${dry[@]}" \
		-o jsonpath='{.spec.priorityClassName} {.metadata.finalizers[*]}' -f - 2>&1)
	[ "$out" = "haok-work gpuquota.io/accounting" ] || { echo "fail: haok $out"; return; }
	out=$(gpu_pod_yaml e2e-hadeny "late-$i" 1 | $KUBECTL create --dry-run=server -f - 2>&1)
	case "$out" in
	*'admission webhook "pods.gpuquota.io" denied the request'*"team hadeny has used"*) echo ok ;;
	*) echo "fail: hadeny $out" ;;
	esac
}

# ha_prober_start FILE: admissions in a loop until ha_prober_stop FILE; one
# line per attempt: "<ms> ok" or "<ms> fail: ...".
ha_prober_start() {
	rm -f "$1" "$1.stop"
	(
		set +e
		i=0
		while [ ! -e "$1.stop" ]; do
			i=$((i + 1))
			echo "$(date +%s%3N) $(ha_admit_once $i)" >>"$1"
			sleep 0.2
		done
	) >/dev/null 2>&1 &
	echo $! >"$1.pid"
}
ha_prober_stop() {
	touch "$1.stop"
	wait_for 30 sh -c "! kill -0 $(cat "$1.pid") 2>/dev/null"
	rm -f "$1.pid" "$1.stop"
}
ha_prober_total() { wc -l <"$1"; }
ha_prober_fails() { grep -c ' fail' "$1" || true; }

# ha_wait_new_leader OLD_PID T0_MS TIMEOUT_S: a live replica (not the
# process OLD_PID) leads, holding the Lease; prints "<ms since T0> <pod>".
ha_wait_new_leader() {
	local deadline=$(($2 + $3 * 1000)) l
	while [ "$(date +%s%3N)" -lt $deadline ]; do
		l=$(ha_leaders 2>/dev/null)
		if [ -n "$l" ] && [ "$(echo "$l" | wc -l)" = 1 ] && [ "$(ha_holder)" = "$l" ] &&
			[ "$(ha_pid "$l")" != "$1" ]; then
			echo "$(($(date +%s%3N) - $2)) $l"
			return 0
		fi
		sleep 0.1
	done
	return 1
}

test_ha_a_install_two_replicas_one_lease_admission_through_the_service() {
	ha_install
	local pods holder l out used0 used1
	pods=$(ha_live_pods | tr '\n' ' ')
	assert_eq "$(echo $pods | wc -w)" 2 "replicas"
	for p in $pods; do
		assert_eq "$(jp "pod/$p" '{.spec.nodeName}' $HA_NS)" "$NODE_NAME" "$p on the real node"
		assert_eq "$(jp "pod/$p" '{.status.conditions[?(@.type=="Ready")].status}' $HA_NS)" True "$p Ready"
	done
	holder=$(ha_holder)
	l=$(ha_leaders)
	assert_eq "$l" "$holder" "the one replica whose gpuquota_leader is 1 holds the Lease"
	case " $pods " in *" $holder "*) ;; *) fail "holder $holder is not a replica ($pods)" ;; esac
	for p in $pods; do
		[ "$p" = "$holder" ] || assert_eq "$(ha_metric "$p" gpuquota_leader)" 0 "the other replica follows"
	done
	ha_teams
	assert_eq "$($KUBECTL get mutatingwebhookconfiguration gpuquota -o jsonpath='{.webhooks[0].clientConfig.service.name}')" \
		gpuquota-webhook "webhook called through the Service"
	out=$(gpu_pod_yaml e2e-hadeny late 1 | $KUBECTL apply -f - 2>&1) && fail "GPU pod of a spent team admitted: $out"
	assert_contains "$out" 'admission webhook "pods.gpuquota.io" denied the request' "the webhook's Deny seen by kubectl"
	assert_contains "$out" "team hadeny has used" "the denial's message"
	echo "    kubectl: $(echo "$out" | head -n 1 | cut -c1-200)"
	# The ledger moves while a pod of haok runs.
	gpu_pod_yaml e2e-haok burner 2 8s | $KUBECTL apply -f - >/dev/null
	assert_eq "$(jp pod/burner '{.spec.priorityClassName}' e2e-haok)" haok-work "the webhook set the default class"
	wait_for 30 phase_is e2e-haok burner Running
	used0=$(jp gta/haok '{.status.usage.usedMicroGPUSeconds}')
	wait_for 30 sh -c "[ \"\$($KUBECTL get gta haok -o jsonpath='{.status.usage.usedMicroGPUSeconds}')\" -gt ${used0:-0} ]"
	used1=$(jp gta/haok '{.status.usage.usedMicroGPUSeconds}')
	echo "    kubectl get gta haok: $($KUBECTL get gta haok --no-headers | tr -s ' ') (used ${used0:-0} -> $used1 uGPU-s)"
}

# ha_pod_watch NS FILE: records every version of the namespace's pods
# (name, GPUs, startTime, finishedAt): the ground truth survives the pods,
# which go once accounted.
ha_pod_watch() {
	$KUBECTL -n "$1" get pods -w -o jsonpath='{.metadata.name} {.spec.containers[0].resources.limits.nvidia\.com/gpu} {.status.startTime} {.status.containerStatuses[0].state.terminated.finishedAt}{"\n"}' >"$2" 2>/dev/null &
	echo $!
}
# ha_truth FILE: milli GPU-seconds of the ended pods recorded.
ha_truth() {
	awk 'NF == 4 {last[$1] = $0} END {for (p in last) {print last[p]}}' "$1" | while read -r _ g s e; do
		echo $((($(date -d "$e" +%s) - $(date -d "$s" +%s)) * 1000 * g))
	done | awk '{t += $1} END {print t + 0}'
}
ha_ended() { awk 'NF == 4 {print $1}' "$1" | sort -u | wc -l; }

test_ha_b_failover_by_pod_delete_and_sigkill_keeps_admission_and_ledger() {
	ha_install
	ha_teams
	local ns=e2e-haledger watch wpid probe fo0 old pid t0 r ms who del kill truth used diff ip tnr late early r0
	new_ns $ns
	apply_team haledger "  namespaces: [$ns]
  quota: {gpus: 16}
  priorities: {tiers: [{name: work, value: 1000}], defaultTier: work}
  budget: {gpuHours: \"100\", period: Monthly, onExhausted: Deny}"
	wait_for 60 team_ready haledger
	watch=$(mktemp)
	wpid=$(ha_pod_watch $ns "$watch")
	probe=$(mktemp)
	fo0=$(ha_fail_open)
	class_pod e2e-haledger l1 1 30s haledger-work
	class_pod e2e-haledger l2 2 45s haledger-work
	class_pod e2e-haledger l3 1 60s haledger-work
	ha_prober_start "$probe"
	sleep 3
	# 1. The leader's pod deleted (SIGTERM, the Lease released).
	old=$(ha_holder)
	pid=$(ha_pid "$old")
	t0=$(date +%s%3N)
	$KUBECTL -n $HA_NS delete pod "$old" --wait=false >/dev/null
	r=$(ha_wait_new_leader "$pid" "$t0" $((HA_LEASE + 15))) || fail "no new leader after deleting $old"
	del=${r%% *}
	echo "    leader pod deleted: ${r#* } leads after ${del} ms"
	[ "$del" -le $((HA_LEASE * 1000 + 2000)) ] || fail "takeover after the pod's deletion took ${del} ms"
	class_pod e2e-haledger l4 3 25s haledger-work # while the replacement starts
	wait_for 120 ha_two_ready
	sleep 2
	ha_prober_stop "$probe"
	local total fails fo
	total=$(ha_prober_total "$probe")
	fails=$(ha_prober_fails "$probe")
	fo=$(($(ha_fail_open) - fo0))
	echo "    admissions during the pod deletion: $total attempted, $fails failed; the apiserver's fail-open count +$fo"
	{ grep ' fail' "$probe" || true; } | head -n 5 | cut -c1-300 | sed 's/^/    /'
	assert_eq "$fails" 0 "admissions that failed or skipped the webhook during the leader pod's deletion"
	assert_eq "$fo" 0 "webhook calls the apiserver failed open during the leader pod's deletion"
	# 2. The leader's container SIGKILLed (the kubelet restarts it).
	old=$(ha_holder)
	pid=$(ha_pid "$old")
	[ -n "$pid" ] || fail "no process for $old"
	r0=$(ha_restarts "$old")
	ip=$(ha_ip "$old")
	fo0=$(ha_fail_open)
	ha_prober_start "$probe"
	sleep 3
	t0=$(date +%s%3N)
	kill -KILL "$pid"
	class_pod e2e-haledger l5 2 20s haledger-work # while no replica may lead
	# Until the kubelet has seen the container die and the endpoint is no
	# longer ready, the Service still sends connections to the dead replica.
	while [ "$($KUBECTL -n $HA_NS get endpointslices -l kubernetes.io/service-name=gpuquota-webhook -o json |
		jq --arg ip "$ip" '[.items[].endpoints[]? | select(.addresses[0] == $ip and .conditions.ready == true)] | length')" != 0 ]; do
		[ $(($(date +%s%3N) - t0)) -lt 30000 ] || fail "the killed replica's endpoint stayed ready"
		sleep 0.1
	done
	tnr=$(date +%s%3N)
	r=$(ha_wait_new_leader "$pid" "$t0" $((HA_LEASE + 15))) || fail "no new leader after SIGKILL of $old"
	kill=${r%% *}
	who=${r#* }
	echo "    leader container SIGKILLed: $who$([ "$who" = "$old" ] && echo " (its restarted container, same identity)") leads after ${kill} ms; its endpoint not ready after $((tnr - t0)) ms"
	[ "$kill" -le $((HA_LEASE * 1000 + 2000)) ] || fail "takeover after SIGKILL took ${kill} ms (> lease ${HA_LEASE} s + 2 s)"
	wait_for 60 sh -c "[ \"\$($KUBECTL -n $HA_NS get pod $old -o jsonpath='{.status.containerStatuses[0].restartCount}')\" -gt $r0 ]"
	wait_for 120 ha_two_ready
	sleep 3
	ha_prober_stop "$probe"
	total=$(ha_prober_total "$probe")
	fails=$(ha_prober_fails "$probe")
	fo=$(($(ha_fail_open) - fo0))
	echo "    admissions around the SIGKILL: $total attempted, $fails failed; the apiserver's fail-open count +$fo"
	{ grep ' fail' "$probe" || true; } | head -n 5 | cut -c1-300 | sed 's/^/    /'
	# Calls the apiserver made to the dead replica before its endpoint was
	# taken out are refused and fail open (failurePolicy: Ignore; README,
	# "Operating gpuquota"); none after that (kube-proxy's resync: 1 s). A
	# line's time is when its attempt started (two kubectl calls, under 2 s).
	late=$(awk -v t=$((tnr + 1000)) '/ fail/ && $1 > t' "$probe" | wc -l)
	early=$(awk -v t=$((t0 - 2000)) '/ fail/ && $1 < t' "$probe" | wc -l)
	assert_eq "$early$late" 00 "failed admissions before the SIGKILL or once the dead replica's endpoint was out"
	wait_for 60 ha_one_leader
	# The ledger: every pod of haledger ended and released; its usage equals
	# the pods' own times.
	wait_for 120 sh -c "[ \"\$(awk 'NF == 4 {print \$1}' $watch | sort -u | wc -l)\" = 5 ]"
	wait_for 60 sh -c "! $KUBECTL -n $ns get pods -o jsonpath='{.items[*].metadata.finalizers}' | grep -q gpuquota.io/accounting"
	kill "$wpid" 2>/dev/null || true
	truth=$(ha_truth "$watch")
	wait_for 30 sh -c "[ \"\$($KUBECTL get gta haledger -o jsonpath='{.status.usage.usedMicroGPUSeconds}')\" -ge $((truth * 1000 - 5000000)) ]"
	sleep 3
	used=$(jp gta/haledger '{.status.usage.usedMicroGPUSeconds}')
	diff=$((used / 1000 - truth))
	echo "    ledger through both failovers: ground truth $truth mGPU-s, ledger $((used / 1000)) mGPU-s, difference ${diff} mGPU-s over 5 pods"
	[ "${diff#-}" -le 5000 ] || fail "ledger off by ${diff} milli GPU-seconds (tolerance 1 GPU-second per pod)"
	rm -f "$watch" "$probe"
}

test_ha_c_paused_replica_writes_nothing_until_it_leads_again() {
	ha_install
	ha_teams
	local old other pid t0 r ms w0 w1 w rf0 i r0 probe fo0
	# A running GPU pod under a budget: the leader writes its ledger every
	# ledger interval, so a resumed ex-leader would have writes to make.
	gpu_pod_yaml e2e-haok busy 1 120s | $KUBECTL apply -f - >/dev/null
	wait_for 30 phase_is e2e-haok busy Running
	old=$(ha_holder)
	other=$(ha_live_pods | grep -vx "$old")
	pid=$(ha_pid "$old")
	r0=$(ha_restarts "$old")
	w0=$(ha_metric "$old" gpuquota_api_writes_total)
	probe=$(mktemp)
	fo0=$(ha_fail_open)
	ha_prober_start "$probe"
	t0=$(date +%s%3N)
	kill -STOP "$pid"
	r=$(ha_wait_new_leader "$pid" "$t0" $((HA_LEASE + 15))) || { kill -CONT "$pid"; fail "no takeover from a paused leader"; }
	ms=${r%% *}
	echo "    leader $old paused (SIGSTOP): ${r#* } leads after ${ms} ms"
	assert_eq "${r#* }" "$other" "the other replica leads"
	sleep 2 # past the lease duration, well inside the liveness probe's 30 s
	kill -CONT "$pid"
	w1=$(ha_metric "$old" gpuquota_api_writes_total)
	rf0=$(ha_metric "$old" gpuquota_api_writes_refused_total)
	wait_for 10 sh -c "[ \"\$(curl -sf --max-time 2 http://$(ha_ip "$old"):8080/metrics | awk '\$1 == \"gpuquota_leader\" {print \$2}')\" = 0 ]"
	for i in $(seq 1 10); do
		sleep 1
		w=$(ha_metric "$old" gpuquota_api_writes_total)
		assert_eq "$w" "$w1" "writes of the resumed ex-leader (t=${i}s)"
		assert_eq "$(ha_metric "$old" gpuquota_leader)" 0 "the resumed replica follows (t=${i}s)"
	done
	assert_eq "$(ha_restarts "$old")" "$r0" "the paused container was not restarted"
	assert_eq "$(ha_holder)" "$other" "the other keeps the Lease"
	echo "    resumed ex-leader: writes before SIGSTOP $w0, right after SIGCONT $w1, 10 s later $w; refused by the gate: $rf0 then $(ha_metric "$old" gpuquota_api_writes_refused_total)"
	grep -q "leadership lost" <<<"$($KUBECTL -n $HA_NS logs "$old")" || fail "no 'leadership lost' in the resumed replica's log"
	ha_prober_stop "$probe"
	# Not asserted: a stopped process still accepts connections (the kernel
	# does), so calls sent to it time out and fail open until its readiness
	# probe takes it out of the Service (README, "Operating gpuquota").
	echo "    admissions while it was paused: $(ha_prober_total "$probe") attempted, $(ha_prober_fails "$probe") failed; the apiserver's fail-open count +$(($(ha_fail_open) - fo0))"
	rm -f "$probe"
	# That it writes again once it re-acquires is test_leader_d's (a
	# deleted pod's replacement may take the released Lease first here).
	wait_for 120 ha_two_ready
	$KUBECTL -n e2e-haok delete pod busy --wait=false >/dev/null
}

test_ha_d_rolling_update_keeps_admission() {
	ha_install
	ha_teams
	local probe fo0 before total fails fo
	probe=$(mktemp)
	fo0=$(ha_fail_open)
	before=$(ha_live_pods | tr '\n' ' ')
	ha_prober_start "$probe"
	sleep 3
	$KUBECTL -n $HA_NS set env deployment/gpuquota-controller GQ_E2E_ROLL="$(date +%s)" >/dev/null
	$KUBECTL -n $HA_NS rollout status deployment gpuquota-controller --timeout 180s >/dev/null ||
		fail "rollout: $($KUBECTL -n $HA_NS get pods -o wide 2>&1)"
	wait_for 60 sh -c "[ \"\$($KUBECTL -n $HA_NS get pods -l $HA_SEL --no-headers | wc -l)\" = 2 ]"
	wait_for 60 ha_two_ready
	sleep 3
	ha_prober_stop "$probe"
	total=$(ha_prober_total "$probe")
	fails=$(ha_prober_fails "$probe")
	fo=$(($(ha_fail_open) - fo0))
	echo "    rolling update: $total admissions attempted, $fails failed; the apiserver's fail-open count +$fo"
	{ grep ' fail' "$probe" || true; } | head -n 5 | cut -c1-300 | sed 's/^/    /'
	assert_eq "$fails" 0 "admissions that failed or skipped the webhook during the rolling update"
	assert_eq "$fo" 0 "webhook calls the apiserver failed open"
	for p in $before; do
		case " $(ha_live_pods | tr '\n' ' ') " in *" $p "*) fail "old replica $p still there" ;; esac
	done
	wait_for 60 ha_one_leader
	rm -f "$probe"
}

test_ha_e_uninstall_leaves_no_finalizer_or_gate() {
	ha_install
	local out
	# A held pod (Hold team, budget spent) and an accounted running one.
	new_ns e2e-hahold
	budget_team hahold e2e-hahold Hold 0.001 Monthly
	wait_for 60 team_ready hahold
	wait_for 60 webhook_serves e2e-hahold hahold-work
	spend hahold e2e-hahold
	gpu_pod_yaml e2e-hahold held 1 | $KUBECTL apply -f - >/dev/null
	assert_eq "$(jp pod/held '{.spec.schedulingGates[*].name}' e2e-hahold)" gpuquota.io/budget "held by the budget"
	gpu_pod_yaml e2e-hahold serving 1 "" hahold-serve | $KUBECTL apply -f - >/dev/null
	assert_contains "$(jp pod/serving '{.metadata.finalizers}' e2e-hahold)" gpuquota.io/accounting "accounted"
	# As README "Operating gpuquota" says: the allocations first, while the
	# controller runs (it releases namespaces, finalizers and gates; the
	# objects it made are garbage-collected), then the install.
	$KUBECTL delete gta --all --wait=true --timeout=120s >/dev/null || fail "allocations not deleted"
	wait_for 60 sh -c "[ -z \"\$($KUBECTL get pods -A -o json | jq -r '.items[] | select((.metadata.finalizers // []) | index(\"gpuquota.io/accounting\")) | .metadata.name')\" ]"
	wait_for 60 sh -c "[ -z \"\$($KUBECTL get pods -A -o json | jq -r '.items[] | select((.spec.schedulingGates // []) | map(.name) | index(\"gpuquota.io/budget\")) | .metadata.name')\" ]"
	assert_eq "$($KUBECTL get resourcequota,limitrange -A -l app.kubernetes.io/managed-by=gpuquota --no-headers 2>/dev/null | wc -l)" 0 \
		"objects of the deleted teams garbage-collected"
	$KUBECTL delete -k "$HA_DEPLOY" --wait=true --timeout=180s >/dev/null 2>&1 || fail "kubectl delete -k"
	rm -rf "$HA_DEPLOY"
	wait_for 120 sh -c "! $KUBECTL get namespace $HA_NS >/dev/null 2>&1"
	assert_eq "$($KUBECTL get crd gputeamallocations.gpuquota.io --ignore-not-found -o name)" "" "CRD removed"
	assert_eq "$($KUBECTL get mutatingwebhookconfiguration gpuquota --ignore-not-found -o name)" "" "webhook removed"
	out=$($KUBECTL get pods -A -o json | jq -r '.items[] | select(((.metadata.finalizers // []) | map(select(startswith("gpuquota.io/"))) | length) > 0 or ((.spec.schedulingGates // []) | map(select(.name | startswith("gpuquota.io/"))) | length) > 0) | .metadata.namespace + "/" + .metadata.name')
	assert_eq "$out" "" "pods left with a gpuquota finalizer or gate"
	assert_eq "$(jp pod/held '{.status.phase}' e2e-hahold)" Running "the held pod runs once released"
	# Back to the other tests' setup: CRD, namespace, RBAC, policies, a new
	# ServiceAccount token, the webhook at the out-of-cluster controller.
	rm -f "$CTL_KUBECONFIG"
	controller_install
}
