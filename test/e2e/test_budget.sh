# e2e: GPU-hour budgets -- the ledger, the three onExhausted policies, the
# admission webhook registered with the real apiserver over TLS, and the
# quota clamp that keeps Deny working without the webhook.

# budget_team NAME NS POLICY GPU_HOURS PERIOD [WARN]
budget_team() {
	apply_team "$1" "  namespaces: [$2]
  quota: {gpus: 8}
  priorities:
    tiers: [{name: work, value: 1000}, {name: serve, value: 50000}]
    defaultTier: work
  budget: {gpuHours: \"$4\", period: \"$5\", onExhausted: $3, warnAtPercent: ${6:-80}, exemptTiers: [serve]}"
}

exhausted() { cond_is "$1" BudgetExhausted True; }

# webhook_serves NS CLASS: the apiserver calls our webhook for GPU pods of NS
# (a server-side dry run comes back with the team's default class). A
# namespace's team label takes a moment to reach the apiserver's webhook
# namespaceSelector.
webhook_serves() {
	[ "$(gpu_pod_yaml "$1" probe 1 | $KUBECTL apply --dry-run=server -o jsonpath='{.spec.priorityClassName}' -f - 2>/dev/null)" = "$2" ]
}

# spend TEAM NS: runs a 2-GPU pod for 3 s (6 GPU-seconds) and waits until
# the team's budget is exhausted.
spend() {
	gpu_pod_yaml "$2" spender 2 3s | $KUBECTL apply -f - >/dev/null
	wait_for 40 exhausted "$1"
}

test_budget_a_deny_with_message_and_clamp() {
	controller_start
	new_ns e2e-bdeny
	budget_team bdeny e2e-bdeny Deny 0.001 Monthly
	wait_for 30 team_ready bdeny
	wait_for 30 webhook_serves e2e-bdeny bdeny-work
	spend bdeny e2e-bdeny
	local out
	out=$(gpu_pod_yaml e2e-bdeny late 1 | $KUBECTL apply -f - 2>&1) && fail "GPU pod admitted: $out"
	assert_contains "$out" 'admission webhook "pods.gpuquota.io" denied the request' "webhook denial"
	assert_contains "$out" "team bdeny has used" "message names the team"
	assert_contains "$out" "of its 0.001 GPU-hours budget" "message gives the budget"
	assert_contains "$out" "$(date -u -d "$(date -u +%Y-%m-01) +1 month" +%Y-%m-%dT00:00:00Z)" \
		"message gives the reset time"
	# Exempt tiers and CPU pods still run.
	tier_pod e2e-bdeny serve 1 bdeny-serve | $KUBECTL apply -f - >/dev/null
	wait_for 30 phase_is e2e-bdeny serve Running
	# Defense in depth: a quota refusing GPUs to every non-exempt pod.
	wait_for 30 rq_hard_is e2e-bdeny gpuquota-bdeny-budget requests.nvidia.com/gpu 0
	assert_eq "$(jp resourcequota/gpuquota-bdeny-budget '{.spec.scopeSelector.matchExpressions[0].values}' e2e-bdeny)" \
		'["bdeny-serve"]' "guard spares the exempt tier"
	assert_eq "$(jp gta/bdeny '{.status.state}')" BudgetExhausted "state"
	assert_contains "$($KUBECTL get gta bdeny)" "/0.001" "GPU-HOURS column"
	assert_contains "$($KUBECTL get events -A --field-selector involvedObject.name=bdeny -o jsonpath='{.items[*].reason}')" \
		BudgetExhausted "exhaustion event"
}

test_budget_b_deny_holds_without_webhook() {
	controller_start
	wait_for 30 exhausted bdeny
	wait_for 30 quota_synced e2e-bdeny gpuquota-bdeny-budget
	controller_stop
	local out
	out=$(gpu_pod_yaml e2e-bdeny nowebhook 1 "" bdeny-work | $KUBECTL apply -f - 2>&1) &&
		fail "GPU pod admitted with the webhook down: $out"
	assert_contains "$out" "exceeded quota: gpuquota-bdeny-budget" "quota refuses it"
	controller_start
}

test_budget_c_hold_until_rollover() {
	controller_start
	new_ns e2e-bhold
	# A 1-minute period: the held pod is released at the next rollover.
	budget_team bhold e2e-bhold Hold 0.001 1m
	wait_for 30 team_ready bhold
	wait_for 30 webhook_serves e2e-bhold bhold-work
	spend bhold e2e-bhold
	local out
	out=$(gpu_pod_yaml e2e-bhold waiting 1 | $KUBECTL apply -f - 2>&1)
	assert_contains "$out" "Warning:" "kubectl prints the webhook warning"
	assert_eq "$(jp pod/waiting '{.spec.schedulingGates[*].name}' e2e-bhold)" gpuquota.io/budget "gate"
	sleep 3
	assert_eq "$(pod_phase e2e-bhold waiting)" Pending "held pod waits"
	# Released after the rollover (at most a minute), then runs.
	wait_for 90 phase_is e2e-bhold waiting Running
	assert_eq "$(jp pod/waiting '{.spec.schedulingGates}' e2e-bhold)" "" "gate removed"
	[ "$($KUBECTL get gta bhold -o jsonpath='{.status.history[0].usedMicroGPUSeconds}')" -ge 6000000 ] ||
		fail "the spent period went to history"
}

test_budget_d_deprioritize() {
	controller_start
	new_ns e2e-bdep
	budget_team bdep e2e-bdep Deprioritize 0.001 Monthly
	wait_for 30 team_ready bdep
	wait_for 30 webhook_serves e2e-bdep bdep-work
	assert_eq "$(jp priorityclass/bdep-over-budget '{.value} {.preemptionPolicy}')" "-1 Never" \
		"over-budget class"
	spend bdep e2e-bdep
	local out
	out=$(tier_pod e2e-bdep cheap 1 bdep-work | $KUBECTL apply -f - 2>&1)
	assert_contains "$out" "Warning:" "kubectl prints the webhook warning"
	assert_eq "$(jp pod/cheap '{.spec.priorityClassName} {.spec.priority} {.spec.preemptionPolicy}' e2e-bdep)" \
		"bdep-over-budget -1 Never" "pod switched to the over-budget class"
	wait_for 30 phase_is e2e-bdep cheap Running
}

test_budget_e_warning_and_limits() {
	controller_start
	new_ns e2e-bwarn
	apply_team bwarn "  namespaces: [e2e-bwarn]
  quota: {gpus: 8}
  limits: {maxGPUsPerPod: 2}
  priorities: {tiers: [{name: work, value: 1000}], defaultTier: work}
  budget: {gpuHours: \"0.01\", period: Monthly, onExhausted: Deny, warnAtPercent: 10}"
	wait_for 30 team_ready bwarn
	wait_for 30 webhook_serves e2e-bwarn bwarn-work
	local out
	out=$(gpu_pod_yaml e2e-bwarn toomany 3 | $KUBECTL apply -f - 2>&1) && fail "over the per-pod cap"
	assert_contains "$out" "at most 2" "maxGPUsPerPod denial"
	# 2 GPUs x 3 s = 6 GPU-s = 16.7 % of 36 GPU-s: past the 10 % warning.
	gpu_pod_yaml e2e-bwarn first 2 3s | $KUBECTL apply -f - >/dev/null
	wait_for 40 cond_is bwarn BudgetWarning True
	out=$(gpu_pod_yaml e2e-bwarn second 1 1s | $KUBECTL apply -f - 2>&1)
	assert_contains "$out" "Warning:" "warning printed by kubectl"
	assert_contains "$out" "GPU-hour budget" "warning text"
	assert_eq "$(jp pod/second '{.spec.priorityClassName}' e2e-bwarn)" bwarn-work "defaultTier set"
	# Non-GPU pods are never touched.
	$KUBECTL -n e2e-bwarn run cpu-only --image=registry.example/app:1 --restart=Never >/dev/null
	assert_eq "$(jp pod/cpu-only '{.metadata.finalizers}' e2e-bwarn)" "" "no finalizer on CPU pods"
}

# crash_pod NS NAME GPUS RUN_FOR: a pod on the whole-GPU pool (weight 1 per
# GPU) naming the team's class (it may be created while the webhook is down,
# when no default class is filled in).
crash_pod() {
	$KUBECTL apply -f - >/dev/null <<Y
apiVersion: v1
kind: Pod
metadata:
  name: $2
  namespace: $1
  annotations: {test.gpuquota.io/run-for: "$4"}
spec:
  priorityClassName: bcrash-work
  nodeSelector: {gpuquota.io/test-pool: whole-gpu}
  containers:
  - name: main
    image: registry.example/train:1
    resources: {limits: {nvidia.com/gpu: "$3"}}
Y
}

kill_controller() {
	kill -KILL "$(cat "$CTL_PIDFILE")"
	wait_for 10 sh -c "! kill -0 $(cat "$CTL_PIDFILE") 2>/dev/null"
	rm -f "$CTL_PIDFILE"
}

test_budget_f_exact_through_sigkill_and_deletions() {
	local ns=e2e-bcrash truth=0 used diff i p
	controller_start
	new_ns $ns
	apply_team bcrash "  namespaces: [$ns]
  quota: {gpus: 16}
  priorities: {tiers: [{name: work, value: 1000}], defaultTier: work}
  budget: {gpuHours: \"100\", period: Monthly, onExhausted: Deny}"
	wait_for 30 team_ready bcrash
	wait_for 30 webhook_serves $ns bcrash-work
	declare -A gpus=([c1]=1 [c2]=2 [c3]=1 [c4]=3 [c5]=1 [c6]=2)
	declare -A deleted_end
	crash_pod $ns c1 1 20s
	crash_pod $ns c2 2 25s
	crash_pod $ns c3 1 60s
	crash_pod $ns c4 3 30s
	crash_pod $ns c5 1 60s
	for i in 1 2 3 4 5 6; do
		sleep $((2 + RANDOM % 4))
		kill_controller
		case $i in
		2 | 4) # delete a running pod while the controller is down
			p=$([ $i = 2 ] && echo c3 || echo c5)
			wait_for 30 phase_is $ns $p Running
			$KUBECTL -n $ns delete pod $p --grace-period=0 --force --wait=false >/dev/null 2>&1
			wait_for 10 sh -c "[ -n \"\$($KUBECTL -n $ns get pod $p -o jsonpath='{.metadata.deletionTimestamp}')\" ]"
			deleted_end[$p]="$(jp pod/$p '{.metadata.deletionTimestamp}' $ns) $(jp pod/$p '{.status.startTime}' $ns)"
			;;
		3) crash_pod $ns c6 2 15s ;; # admitted while the webhook is down
		esac
		sleep $((1 + RANDOM % 3))
		controller_start
	done
	# Everything ends; every finalizer is released once accounted.
	for p in c1 c2 c4 c6; do wait_for 90 phase_is $ns $p Succeeded; done
	wait_for 60 sh -c "! $KUBECTL -n $ns get pods -o jsonpath='{.items[*].metadata.finalizers}' | grep -q gpuquota.io/accounting"
	for p in c3 c5; do wait_for 30 sh -c "! $KUBECTL -n $ns get pod $p >/dev/null 2>&1"; done
	# Ground truth from the pods' own timestamps (milli GPU-seconds).
	for p in c1 c2 c4 c6; do
		local s f
		s=$(jp pod/$p '{.status.startTime}' $ns)
		f=$(jp pod/$p '{.status.containerStatuses[0].state.terminated.finishedAt}' $ns)
		truth=$((truth + ($(date -d "$f" +%s) - $(date -d "$s" +%s)) * 1000 * ${gpus[$p]}))
	done
	for p in c3 c5; do
		set -- ${deleted_end[$p]}
		truth=$((truth + ($(date -d "$1" +%s) - $(date -d "$2" +%s)) * 1000 * ${gpus[$p]}))
	done
	wait_for 30 sh -c "[ \"\$($KUBECTL get gta bcrash -o jsonpath='{.status.usage.usedMicroGPUSeconds}')\" -ge $((truth * 1000 - 6000000)) ]"
	sleep 3
	used=$(jp gta/bcrash '{.status.usage.usedMicroGPUSeconds}')
	diff=$((used / 1000 - truth))
	echo "    crash test: ground truth $truth mGPU-s, ledger $((used / 1000)) mGPU-s, difference ${diff} mGPU-s over 6 pods"
	[ "${diff#-}" -le 6000 ] || fail "ledger off by ${diff} milli GPU-seconds (tolerance 1 GPU-second per pod)"
}
