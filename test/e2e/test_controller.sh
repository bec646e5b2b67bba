# e2e: the controller reconciling GPUTeamAllocations on the real cluster,
# running with the ServiceAccount token of the shipped ClusterRole.

# apply_team NAME YAML-SPEC-BODY: applies a GPUTeamAllocation.
apply_team() {
	echo "$1" >>"$E2E_GTA_FILE"
	$KUBECTL apply -f - >/dev/null <<Y
apiVersion: gpuquota.io/v1alpha1
kind: GPUTeamAllocation
metadata: {name: $1}
spec:
$2
Y
}

team_ready() { cond_is "$1" Ready True; }

test_controller_a_materializes_team_objects() {
	controller_start
	new_ns e2e-alpha-a
	new_ns e2e-alpha-b
	apply_team alpha "  namespaces: [e2e-alpha-a, e2e-alpha-b]
  quota:
    gpus: 4
    migSlices: {\"1g.10gb\": 6}
    resources: {requests.cpu: \"4000m\", requests.memory: 64Gi}
  limits:
    container: {defaultRequest: {cpu: 250m, memory: 512Mi}, default: {cpu: \"1\", memory: 2Gi}}
  priorities:
    tiers:
    - {name: serve, value: 50000}
    - {name: batch, value: 500, preemptionPolicy: Never}
    defaultTier: batch"
	wait_for 30 rq_hard_is e2e-alpha-b gpuquota-alpha requests.nvidia.com/gpu 4
	wait_for 30 team_ready alpha
	local ns
	for ns in e2e-alpha-a e2e-alpha-b; do
		assert_eq "$(rq_hard $ns gpuquota-alpha requests.nvidia.com/gpu)" 4 "$ns GPU quota"
		assert_eq "$(rq_hard $ns gpuquota-alpha requests.nvidia.com/mig-1g.10gb)" 6 "$ns MIG quota"
		assert_eq "$(rq_hard $ns gpuquota-alpha requests.cpu)" 4 "$ns cpu quota (canonical)"
		assert_eq "$(rq_hard $ns gpuquota-alpha requests.nvidia.com/mig-3g.40gb)" 0 \
			"$ns ungranted MIG profile"
		assert_eq "$(rq_hard $ns gpuquota-alpha limits.nvidia.com/gpu)" "" "$ns no limits.* GPU form"
		assert_eq "$(jp resourcequota/gpuquota-alpha-priority '{.spec.scopeSelector.matchExpressions[0].operator} {.spec.scopeSelector.matchExpressions[0].values}' $ns)" \
			'NotIn ["alpha-batch","alpha-serve"]' "$ns priority guard scope"
		assert_eq "$(rq_hard $ns gpuquota-alpha-priority requests.nvidia.com/gpu)" 0 "$ns guard hard"
		assert_eq "$(jp limitrange/gpuquota-alpha '{.spec.limits[0].defaultRequest.cpu} {.spec.limits[0].default.memory}' $ns)" \
			"250m 2Gi" "$ns LimitRange defaults"
		assert_not_contains "$($KUBECTL -n $ns get limitrange gpuquota-alpha -o json)" nvidia.com \
			"$ns LimitRange has no GPU entries"
		assert_eq "$(jp namespace/$ns '{.metadata.labels.gpuquota\.io/team}')" alpha "$ns team label"
		assert_eq "$(jp resourcequota/gpuquota-alpha '{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}' $ns)" \
			GPUTeamAllocation/alpha "$ns owner reference"
		assert_eq "$(jp resourcequota/gpuquota-alpha '{.metadata.labels.app\.kubernetes\.io/managed-by}' $ns)" \
			gpuquota "$ns managed-by label"
	done
	assert_eq "$(jp priorityclass/alpha-serve '{.value}')" 50000 "serve class value"
	assert_eq "$(jp priorityclass/alpha-batch '{.value} {.preemptionPolicy}')" "500 Never" "batch class"
	assert_eq "$(jp gta/alpha '{.status.observedGeneration}')" "$(jp gta/alpha '{.metadata.generation}')" \
		observedGeneration
	assert_eq "$(jp gta/alpha '{.status.namespaceCount} {.status.gpus} {.status.state}')" "2 0/4 Ready" \
		"status summary"
	assert_contains "$($KUBECTL get gta alpha)" "0/4" "printer columns"
	assert_contains "$($KUBECTL get events -A --field-selector involvedObject.name=alpha,involvedObject.kind=GPUTeamAllocation -o jsonpath='{.items[*].reason}')" \
		Reconciled "Reconciled event"
}

test_controller_b_spec_change_updates_objects() {
	controller_start
	new_ns e2e-beta
	apply_team beta "  namespaces: [e2e-beta]
  quota: {gpus: 2}
  priorities:
    tiers: [{name: main, value: 1000}]"
	wait_for 30 team_ready beta
	local old_uid
	old_uid=$(jp priorityclass/beta-main '{.metadata.uid}')
	tier_pod e2e-beta running 1 beta-main | $KUBECTL apply -f - >/dev/null
	wait_for 30 phase_is e2e-beta running Running
	apply_team beta "  namespaces: [e2e-beta]
  quota: {gpus: 3, resources: {pods: \"10\"}}
  priorities:
    tiers: [{name: main, value: 2000}, {name: extra, value: 10}]"
	wait_for 30 rq_hard_is e2e-beta gpuquota-beta requests.nvidia.com/gpu 3
	wait_for 30 rq_hard_is e2e-beta gpuquota-beta pods 10
	wait_for 30 sh -c "[ \"\$($KUBECTL get priorityclass beta-main -o jsonpath='{.value}')\" = 2000 ]"
	[ "$(jp priorityclass/beta-main '{.metadata.uid}')" != "$old_uid" ] ||
		fail "changed value must recreate the class"
	wait_for 30 sh -c "$KUBECTL get priorityclass beta-extra >/dev/null"
	# A running pod keeps the priority it was admitted with.
	assert_eq "$(jp pod/running '{.spec.priority} {.status.phase}' e2e-beta)" "1000 Running" \
		"running pod untouched"
	wait_for 30 sh -c "[ \"\$($KUBECTL get gta beta -o jsonpath='{.status.observedGeneration}')\" = \"\$($KUBECTL get gta beta -o jsonpath='{.metadata.generation}')\" ]"
	# Removing a tier and a pass-through resource removes them.
	apply_team beta "  namespaces: [e2e-beta]
  quota: {gpus: 3}
  priorities:
    tiers: [{name: main, value: 2000}]"
	wait_for 30 sh -c "! $KUBECTL get priorityclass beta-extra >/dev/null 2>&1"
	wait_for 30 rq_hard_is e2e-beta gpuquota-beta pods ""
}

test_controller_c_namespace_moves_between_teams() {
	controller_start
	new_ns e2e-move
	apply_team gamma "  namespaces: [e2e-move]
  quota: {gpus: 1}"
	apply_team delta "  namespaceSelector: {matchLabels: {e2e-owner: delta}}
  quota: {gpus: 2}"
	wait_for 30 rq_hard_is e2e-move gpuquota-gamma requests.nvidia.com/gpu 1
	assert_eq "$(jp namespace/e2e-move '{.metadata.labels.gpuquota\.io/team}')" gamma "label before"
	apply_team gamma "  namespaces: [e2e-other-missing]
  quota: {gpus: 1}"
	$KUBECTL label namespace e2e-move e2e-owner=delta >/dev/null
	wait_for 30 rq_hard_is e2e-move gpuquota-delta requests.nvidia.com/gpu 2
	wait_for 30 sh -c "! $KUBECTL -n e2e-move get resourcequota gpuquota-gamma >/dev/null 2>&1"
	wait_for 30 sh -c "[ \"\$($KUBECTL get ns e2e-move -o jsonpath='{.metadata.labels.gpuquota\.io/team}')\" = delta ]"
	assert_eq "$(gta_cond gamma Degraded)" True "gamma lists a missing namespace"
	$KUBECTL delete gta gamma delta --wait=true >/dev/null
}

test_controller_d_conflicting_claims() {
	controller_start
	new_ns e2e-shared
	apply_team first "  namespaces: [e2e-shared]
  quota: {gpus: 1}"
	wait_for 30 team_ready first
	apply_team second "  namespaces: [e2e-shared]
  quota: {gpus: 5}"
	wait_for 30 cond_is second Conflict True
	assert_contains "$(jp gta/second '{.status.conditions[?(@.type=="Conflict")].message}')" \
		"already claimed by GPUTeamAllocation first" "conflict message"
	assert_eq "$(gta_cond first Conflict)" False "first keeps the namespace"
	assert_eq "$(rq_hard e2e-shared gpuquota-first requests.nvidia.com/gpu)" 1 "first's quota"
	assert_eq "$($KUBECTL -n e2e-shared get resourcequota gpuquota-second 2>&1 | grep -c NotFound)" 1 \
		"no quota for the later claim"
	# Nothing flaps: the status of both stays put.
	local rv1 rv2
	rv1="$(jp gta/first '{.metadata.resourceVersion}') $(jp gta/second '{.metadata.resourceVersion}')"
	sleep 5
	rv2="$(jp gta/first '{.metadata.resourceVersion}') $(jp gta/second '{.metadata.resourceVersion}')"
	assert_eq "$rv2" "$rv1" "resourceVersions stable"
	# When the first goes away the second takes over.
	$KUBECTL delete gta first >/dev/null
	wait_for 30 rq_hard_is e2e-shared gpuquota-second requests.nvidia.com/gpu 5
	wait_for 30 cond_is second Conflict False
	$KUBECTL delete gta second --wait=true >/dev/null
}

test_controller_e_delete_cleans_up() {
	controller_start
	new_ns e2e-eps
	apply_team epsilon "  namespaces: [e2e-eps]
  quota: {gpus: 1}
  limits: {container: {default: {cpu: \"1\"}}}
  priorities: {tiers: [{name: t1, value: 10}]}"
	wait_for 30 team_ready epsilon
	assert_contains "$(jp gta/epsilon '{.metadata.finalizers}')" gpuquota.io/cleanup "finalizer"
	$KUBECTL delete gta epsilon --wait=true --timeout=30s >/dev/null
	wait_for 30 sh -c "! $KUBECTL -n e2e-eps get resourcequota gpuquota-epsilon >/dev/null 2>&1"
	wait_for 30 sh -c "! $KUBECTL -n e2e-eps get limitrange gpuquota-epsilon >/dev/null 2>&1"
	wait_for 30 sh -c "! $KUBECTL get priorityclass epsilon-t1 >/dev/null 2>&1"
	assert_eq "$(jp namespace/e2e-eps '{.metadata.labels.gpuquota\.io/team}')" "" "label removed"
}

# An allocation edited into a form the CRD admits but the controller
# refuses (a weight finer than a thousandth) reports InvalidSpec, and can
# still be deleted: its namespace is released and the finalizer goes.
test_controller_e2_invalid_allocation_can_be_deleted() {
	controller_start
	new_ns e2e-zinv
	apply_team zinv "  namespaces: [e2e-zinv]
  quota: {gpus: 1}"
	wait_for 30 team_ready zinv
	assert_eq "$(jp namespace/e2e-zinv '{.metadata.labels.gpuquota\.io/team}')" zinv "namespace labelled"
	$KUBECTL patch gta zinv --type merge -p '{"spec":{"budget":{"gpuHours":10,"weights":{"nvidia.com/gpu":"0.0001"}}}}' >/dev/null
	wait_for 30 sh -c "[ \"\$($KUBECTL get gta zinv -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].reason}')\" = InvalidSpec ]"
	$KUBECTL delete gta zinv --wait=true --timeout=30s >/dev/null || fail "invalid allocation not deleted: $($KUBECTL get gta zinv -o yaml 2>&1 | head -n 30)"
	assert_eq "$(jp namespace/e2e-zinv '{.metadata.labels.gpuquota\.io/team}')" "" "label removed"
}

test_controller_f_real_quota_rejects_over_quota_pods() {
	controller_start
	new_ns e2e-zeta
	apply_team zeta "  namespaces: [e2e-zeta]
  quota: {gpus: 2}
  priorities: {tiers: [{name: work, value: 100}]}"
	wait_for 30 team_ready zeta
	local out
	out=$(tier_pod e2e-zeta big 3 zeta-work | $KUBECTL apply -f - 2>&1) && fail "3-GPU pod admitted"
	assert_contains "$out" "exceeded quota: gpuquota-zeta" "over-quota denial"
	$KUBECTL apply -f - >/dev/null <<Y
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: e2e-foreign}
value: 100
Y
	out=$(tier_pod e2e-zeta foreign 1 e2e-foreign | $KUBECTL apply -f - 2>&1) &&
		fail "GPU pod with a class outside the team's tiers admitted"
	# The webhook refuses it first; the priority quota is the layer that
	# holds when the webhook is not called (checked in test a and below).
	assert_contains "$out" 'priorityClassName "e2e-foreign" is not a priority tier of team zeta' \
		"foreign class denial"
	assert_eq "$(jp resourcequota/gpuquota-zeta-priority '{.spec.scopeSelector.matchExpressions[0].values}' e2e-zeta)" \
		'["zeta-work"]' "priority guard quota"
	tier_pod e2e-zeta ok 2 zeta-work | $KUBECTL apply -f - >/dev/null
	wait_for 30 phase_is e2e-zeta ok Running
	$KUBECTL delete priorityclass e2e-foreign >/dev/null
}

test_controller_g_team_wide_quota_across_namespaces() {
	controller_start
	new_ns e2e-eta-1
	new_ns e2e-eta-2
	apply_team eta "  namespaces: [e2e-eta-1, e2e-eta-2]
  quota: {gpus: 4}
  priorities: {tiers: [{name: w, value: 100}]}"
	wait_for 30 team_ready eta
	tier_pod e2e-eta-1 three 3 eta-w | $KUBECTL apply -f - >/dev/null
	wait_for 30 phase_is e2e-eta-1 three Running
	# The other namespace's hard shrinks to what is left of the team total.
	wait_for 30 rq_hard_is e2e-eta-2 gpuquota-eta requests.nvidia.com/gpu 1
	wait_for 30 quota_synced e2e-eta-2 gpuquota-eta
	local out
	out=$(tier_pod e2e-eta-2 two 2 eta-w | $KUBECTL apply -f - 2>&1) && fail "team total exceeded"
	assert_contains "$out" "exceeded quota: gpuquota-eta" "team-wide denial"
	tier_pod e2e-eta-2 one 1 eta-w | $KUBECTL apply -f - >/dev/null
	wait_for 30 phase_is e2e-eta-2 one Running
	wait_for 30 sh -c "[ \"\$($KUBECTL get gta eta -o jsonpath='{.status.gpus}')\" = 4/4 ]"
}

test_controller_h_missing_namespace_is_picked_up() {
	controller_start
	apply_team theta "  namespaces: [e2e-theta-late]
  quota: {gpus: 1}"
	wait_for 30 cond_is theta Degraded True
	assert_contains "$(jp gta/theta '{.status.conditions[?(@.type=="Degraded")].message}')" \
		"e2e-theta-late" "Degraded names the namespace"
	new_ns e2e-theta-late
	wait_for 30 rq_hard_is e2e-theta-late gpuquota-theta requests.nvidia.com/gpu 1
	wait_for 30 cond_is theta Degraded False
	wait_for 30 team_ready theta
	$KUBECTL delete gta theta --wait=true >/dev/null
}

test_controller_i_foreign_priority_class_is_a_conflict() {
	controller_start
	new_ns e2e-iota
	$KUBECTL apply -f - >/dev/null <<Y
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: iota-prod}
value: 777
Y
	apply_team iota "  namespaces: [e2e-iota]
  priorities: {tiers: [{name: prod, value: 5000}]}"
	wait_for 30 cond_is iota Conflict True
	assert_contains "$(jp gta/iota '{.status.conditions[?(@.type=="Conflict")].message}')" \
		"PriorityClass iota-prod exists and is not managed by gpuquota" "conflict message"
	assert_eq "$(jp priorityclass/iota-prod '{.value}')" 777 "foreign class untouched"
	$KUBECTL delete gta iota --wait=true >/dev/null
	$KUBECTL delete priorityclass iota-prod >/dev/null
}

test_controller_j_rbac_is_least_privilege() {
	controller_install
	local sa=system:serviceaccount:gpuquota-system:gpuquota-controller
	assert_eq "$($KUBECTL auth can-i list secrets --all-namespaces --as $sa)" no "no cluster-wide secrets"
	assert_eq "$($KUBECTL auth can-i create deployments -n default --as $sa)" no "no deployments"
	assert_eq "$($KUBECTL auth can-i patch gputeamallocations/status --as $sa)" yes "status patch"
	assert_eq "$($KUBECTL auth can-i create resourcequotas -n default --as $sa)" yes "quotas"
	if grep -nE "^\s*-?\s*(verbs|resources|apiGroups):.*['\"]?\*" "$ROOT/manifests/rbac.yaml"; then
		fail "wildcard in the ClusterRole"
	fi
}

test_controller_k_restart_makes_zero_writes() {
	controller_start
	wait_for 30 team_ready alpha
	# An idle cluster: no GPU pods running under a budget (their ledger
	# rightly changes every second). Remove the budget tests' teams first.
	local t
	for t in bdeny bhold bdep bwarn bcrash; do
		$KUBECTL delete gta $t --ignore-not-found --wait=true --timeout=60s >/dev/null
	done
	# ...and let the controller release their pods from accounting.
	wait_for 60 sh -c "! $KUBECTL get pods -A -o jsonpath='{.items[*].metadata.finalizers}' | grep -q gpuquota.io/accounting"
	controller_stop
	CTL_RESYNC=15s controller_start
	sleep 60
	assert_eq "$(metric gpuquota_api_writes_total)" 0 "writes in the 60 s after a restart"
	[ "$(metric gpuquota_reconcile_total)" -ge 4 ] || fail "resyncs did not run"
}

test_controller_l_offline_validate_and_render() {
	local bin="$ROOT/bin/gpuquota-controller" out rc tmp
	out=$("$bin" validate -f "$ROOT/examples/vision.yaml")
	assert_contains "$out" "1 allocation(s) valid, 0 invalid" "validate example"
	tmp=$(mktemp)
	cat >"$tmp" <<Y
apiVersion: gpuquota.io/v1alpha1
kind: GPUTeamAllocation
metadata: {name: bad}
spec:
  namespaces: [a]
  priorities:
    tiers:
    - {name: x, value: 1}
    defaultTier: nope
Y
	rc=0
	out=$("$bin" validate -f "$tmp" 2>&1) || rc=$?
	assert_eq "$rc" 1 "validate exit code"
	assert_contains "$out" "$tmp:9: error: spec.priorities.defaultTier" "error with line number"
	out=$("$bin" render -f "$ROOT/examples/vision.yaml")
	assert_contains "$out" "name: gpuquota-vision" "render quota"
	assert_contains "$out" "kind: PriorityClass" "render classes"
	# vision's node pool: the namespace label, the node labels and taint, and
	# the pinning of its GPU pods.
	assert_contains "$out" "gpuquota.io/mig-config: all-1g.10gb" "render namespace layout label"
	assert_contains "$out" "node labels: gpuquota.io/pool=vision, nvidia.com/mig.config=all-1g.10gb" \
		"render pool node labels"
	assert_contains "$out" "node taint: gpuquota.io/pool=vision:NoSchedule" "render pool taint"
	assert_contains "$out" "nodeSelector gpuquota.io/pool=vision, toleration gpuquota.io/pool=vision:NoSchedule" \
		"render pod pinning"
	assert_not_contains "$out" "null" "render shows no removed labels"
	rm -f "$tmp"
}
