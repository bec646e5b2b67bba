# e2e: the GPUTeamAllocation CRD as the apiserver serves it -- installation,
# printer columns, kubectl explain, the examples, defaulting, the status
# subresource, and the schema/CEL rules that reject bad allocations with a
# clear message. Sourced by run.sh; uses $KUBECTL, $ROOT and lib.sh helpers.
# Invalid objects are only sent with --dry-run=server; the few real objects
# are named e2e-crd-* and deleted by the test that creates them.

CRD_FILE=crds/gpuquota.io_gputeamallocations.yaml
CRD_NAME=gputeamallocations.gpuquota.io

# _crd_install: (re)apply the CRD and wait until it is Established. Idempotent;
# the CRD is shared by every other test, so it is never deleted here.
_crd_install() {
	$KUBECTL apply --server-side --force-conflicts -f "$ROOT/$CRD_FILE" >/dev/null
	$KUBECTL wait --for=condition=Established --timeout=30s "crd/$CRD_NAME" >/dev/null
	# Discovery (the gta short name) lags a little behind Established.
	wait_for 30 $KUBECTL get gta
}

# _crd_obj NAME: prints a GPUTeamAllocation NAME whose spec (already indented
# by two spaces) is read from stdin.
_crd_obj() {
	printf 'apiVersion: gpuquota.io/v1alpha1\nkind: GPUTeamAllocation\nmetadata:\n  name: %s\nspec:\n' "$1"
	cat
}

# _crd_expect_rejected NAME WANT...: server-side dry-run of the allocation
# NAME (spec on stdin); it must be refused as invalid and the error must
# contain every WANT.
_crd_expect_rejected() {
	local name=$1 out want
	shift
	if out=$(_crd_obj "$name" | $KUBECTL apply --dry-run=server -f - 2>&1); then
		fail "allocation $name was accepted: $out"
		return 1
	fi
	assert_contains "$out" "is invalid" "$name: refused by schema validation"
	for want in "$@"; do
		assert_contains "$out" "$want" "$name: error message"
	done
}

# _crd_expect_accepted NAME: server-side dry-run of the allocation (spec on
# stdin) must succeed; prints the object the server would store, as JSON.
_crd_expect_accepted() {
	local name=$1 out
	if ! out=$(_crd_obj "$name" | $KUBECTL apply --dry-run=server -o json -f - 2>&1); then
		fail "allocation $name was rejected: $out"
		return 1
	fi
	printf '%s' "$out"
}

test_crd_established() {
	_crd_install
	assert_eq "$(jp "crd/$CRD_NAME" '{.status.conditions[?(@.type=="Established")].status}')" True \
		"Established condition"
	assert_eq "$(jp "crd/$CRD_NAME" '{.status.conditions[?(@.type=="NamesAccepted")].status}')" True \
		"NamesAccepted condition"
	assert_eq "$(jp "crd/$CRD_NAME" '{.spec.scope}')" Cluster "scope"
	assert_eq "$(jp "crd/$CRD_NAME" '{.status.acceptedNames.shortNames}')" '["gta"]' "short names"
	assert_eq "$(jp "crd/$CRD_NAME" '{.status.acceptedNames.categories}')" '["gpuquota"]' "categories"
	assert_eq "$(jp "crd/$CRD_NAME" '{.spec.versions[?(@.name=="v1alpha1")].served}')" true "v1alpha1 served"
	assert_eq "$(jp "crd/$CRD_NAME" '{.spec.versions[?(@.name=="v1alpha1")].storage}')" true "v1alpha1 storage"
	assert_eq "$(jp "crd/$CRD_NAME" '{.spec.versions[0].subresources.status}')" '{}' "status subresource"
	# The short name, the category and the full name all resolve.
	$KUBECTL get gta >/dev/null 2>&1
	$KUBECTL get gpuquota >/dev/null 2>&1
	$KUBECTL get gputeamallocations.gpuquota.io >/dev/null 2>&1
	# NAME SHORTNAMES APIVERSION NAMESPACED KIND
	assert_eq "$($KUBECTL api-resources --api-group=gpuquota.io --no-headers |
		awk '$1 == "gputeamallocations" {print $2, $3, $4, $5}')" \
		"gta gpuquota.io/v1alpha1 false GPUTeamAllocation" "api-resources row (cluster-scoped)"
}

# The two ways users install: the folder of CRDs applied as it is (GitOps
# tools do this; nothing but the CRD may be in it) and the kustomization of
# manifests/, which includes it.
test_crd_folder_and_kustomization_apply() {
	local out
	out=$($KUBECTL apply --server-side --force-conflicts -f "$ROOT/crds/" 2>&1) ||
		fail "kubectl apply -f crds/ failed: $out"
	assert_eq "$out" "customresourcedefinition.apiextensions.k8s.io/$CRD_NAME serverside-applied" \
		"crds/ holds the CRD and nothing else"
	out=$($KUBECTL kustomize "$ROOT/manifests/" | grep '^kind:' | sort | uniq -c | awk '{print $1 $3}' | tr '\n' ' ')
	assert_contains "$out" "1CustomResourceDefinition" "the kustomization includes the CRD"
	assert_contains "$out" "2ValidatingAdmissionPolicy " "and the admission policies"
	assert_contains "$out" "2ValidatingAdmissionPolicyBinding" "and their bindings"
	# (the namespace for real: a server dry run does not create it for the rest)
	$KUBECTL apply --server-side -f "$ROOT/manifests/namespace.yaml" >/dev/null
	$KUBECTL kustomize "$ROOT/manifests/" | $KUBECTL apply --server-side --dry-run=server -f - >/dev/null ||
		fail "manifests/ does not apply (server dry run)"
}

test_crd_printer_columns() {
	local name=e2e-crd-columns out
	_crd_install
	assert_eq "$(jp "crd/$CRD_NAME" '{.spec.versions[0].additionalPrinterColumns[*].jsonPath}')" \
		".status.namespaceCount .status.gpus .status.gpuHours .status.state .metadata.creationTimestamp" \
		"printer column paths"
	_crd_obj $name <<'Y' | $KUBECTL apply -f - >/dev/null
  namespaces: [e2e-crd-columns-absent]
Y
	out=$($KUBECTL get gta $name 2>&1) || true
	$KUBECTL delete gta $name --wait=false >/dev/null
	assert_contains "$(printf '%s' "$out" | head -1)" "NAME" "table header"
	local col
	for col in NAMESPACES GPUS GPU-HOURS STATE AGE; do
		assert_contains "$(printf '%s' "$out" | head -1)" "$col" "column $col in 'kubectl get gta' header"
	done
}

test_crd_explain_budget() {
	local out
	_crd_install
	# The OpenAPI v3 document is published a moment after the CRD is Established.
	wait_for 30 sh -c "$KUBECTL explain gta.spec.budget 2>/dev/null | grep -q onExhausted"
	# Whitespace-normalised, as explain wraps descriptions.
	out=$($KUBECTL explain gta.spec.budget | tr -s '[:space:]' ' ')
	assert_contains "$out" "GPU-hour budget per period" "budget description"
	assert_contains "$out" "onExhausted" "onExhausted field"
	assert_contains "$out" "enum: Deny, Hold, Deprioritize" "onExhausted values"
	assert_contains "$out" "Default Deny" "onExhausted default documented"
	assert_contains "$out" "gpuHours" "gpuHours field"
	assert_contains "$out" "Default 80" "warnAtPercent default documented"
	assert_contains "$out" "Default Monthly" "period default documented"
	out=$($KUBECTL explain gta.spec.limits.maxGPUsPerPod | tr -s '[:space:]' ' ')
	assert_contains "$out" "never by a LimitRange" "maxGPUsPerPod explains enforcement"
	out=$($KUBECTL explain gta.status)
	assert_contains "$out" "conditions" "status schema is defined (not preserve-unknown-fields)"
	assert_contains "$out" "history" "status.history"
}

test_crd_examples_apply_dry_run() {
	local f out n=0
	_crd_install
	for f in "$ROOT"/examples/*.yaml; do
		out=$($KUBECTL apply --dry-run=server -f "$f" 2>&1) ||
			fail "example $(basename "$f") rejected: $out"
		assert_contains "$out" "(server dry run)" "example $(basename "$f")"
		n=$((n + 1))
	done
	[ "$n" -ge 4 ] || fail "expected namespaces.yaml and 3 team examples, found $n files"
	# The three teams are GPUTeamAllocations ("created", or "unchanged" /
	# "configured" when another test has applied them for real).
	out=$($KUBECTL apply --dry-run=server -f "$ROOT/examples/vision.yaml" -f "$ROOT/examples/nlp.yaml" \
		-f "$ROOT/examples/research.yaml" 2>&1)
	local team
	for team in vision nlp research; do
		assert_contains "$out" "gputeamallocation.gpuquota.io/$team " "example team $team"
	done
}

test_crd_defaults_and_valid_allocation() {
	local out p
	_crd_install
	out=$(_crd_expect_accepted e2e-crd-valid <<'Y'
  namespaces: [team-a, team-b]
  namespaceSelector:
    matchLabels: {team: a}
    matchExpressions:
      - {key: env, operator: In, values: [prod, dev]}
      - {key: gpuquota.io/opt-out, operator: DoesNotExist}
  quota:
    gpus: 8
    migSlices: {"1g.10gb": 14, "3g.40gb": 2, "1g.10gb.me": 1}
    resources: {requests.cpu: "64", requests.memory: 512Gi, pods: 100, count/deployments.apps: "5"}
  limits:
    maxGPUsPerPod: 4
    container: {defaultRequest: {cpu: 500m, memory: 1Gi}, default: {cpu: "2", memory: 4Gi}}
  priorities:
    tiers:
      - {name: inference, value: 100000}
      - {name: training, value: 10000}
      - {name: experiment, value: -2147483648, preemptionPolicy: Never}
    defaultTier: experiment
  budget:
    gpuHours: "12.5"
    exemptTiers: [inference]
    weights: {"nvidia.com/mig-1g.10gb": "0.2", nvidia.com/gpu: 1}
  sharing:
    nodeSelector: {matchLabels: {pool: vision}}
    migConfig: all-1g.10gb
    devicePluginConfig: ""
Y
	)
	# Defaults filled in by the apiserver.
	assert_contains "$out" '"period": "Monthly"' "period defaults to Monthly"
	assert_contains "$out" '"onExhausted": "Deny"' "onExhausted defaults to Deny"
	assert_contains "$out" '"warnAtPercent": 80' "warnAtPercent defaults to 80"
	# Durations of at least a minute are valid periods.
	for p in 6h 1m 90m 1h30m 1h0m30s; do
		_crd_expect_accepted "e2e-crd-period-${p//[^a-z0-9]/}" >/dev/null <<Y
  namespaces: [team-a]
  budget: {gpuHours: 10, period: "$p", onExhausted: Hold, warnAtPercent: 0}
Y
	done
	# A selector alone is enough; so is a name of exactly 63 characters.
	_crd_expect_accepted "$(printf 'a%.0s' {1..63})" >/dev/null <<'Y'
  namespaceSelector: {matchLabels: {team: nlp}}
Y
}

test_crd_status_subresource() {
	local name=e2e-crd-status out hist
	_crd_install
	_crd_obj $name <<'Y' | $KUBECTL apply -f - >/dev/null
  namespaces: [e2e-crd-status-absent]
  quota: {gpus: 8}
  budget: {gpuHours: 500}
Y
	# A status in the declared shape is stored (read back from the response,
	# so a running controller cannot race the check); unknown fields are
	# pruned (kubectl only warns about them on stderr).
	out=$($KUBECTL patch gta $name --subresource=status --type=merge -o json -p '{"status": {
		"observedGeneration": 1, "state": "Ready", "namespaceCount": 2, "gpus": "3/8",
		"gpuHours": "120.5/500", "gpusUsed": "3", "gpusQuota": "8",
		"conditions": [{"type": "Ready", "status": "True", "reason": "Reconciled", "message": "",
			"lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1}],
		"namespaces": [{"name": "a", "state": "Ready", "hard": {"requests.nvidia.com/gpu": "5"},
			"used": {"requests.nvidia.com/gpu": "3"}}],
		"quota": {"hard": {"requests.nvidia.com/gpu": "8"}, "used": {"requests.nvidia.com/gpu": "3"}},
		"usage": {"usedGPUHours": "120.5", "budgetGPUHours": "500", "remainingGPUHours": "379.5",
			"periodStart": "2026-01-01T00:00:00Z", "periodEnd": "2026-02-01T00:00:00Z",
			"accountedUntil": "2026-01-10T00:00:00Z"},
		"history": [{"periodStart": "2025-12-01T00:00:00Z", "periodEnd": "2026-01-01T00:00:00Z",
			"usedGPUHours": "480", "budgetGPUHours": "500"}],
		"unknownField": "pruned"}}' 2>/dev/null) || {
		$KUBECTL delete gta $name --wait=false >/dev/null
		fail "valid status rejected (see the kubectl error above)"
	}
	assert_contains "$out" '"gpuHours": "120.5/500"' "status.gpuHours stored"
	assert_contains "$out" '"remainingGPUHours": "379.5"' "status.usage stored"
	assert_not_contains "$out" "unknownField" "unknown status fields are pruned"
	# A status that breaks the schema is refused: 13 history entries, bad condition status.
	hist=$(for i in $(seq 13); do printf '{"usedGPUHours": "%s"},' "$i"; done)
	out=$($KUBECTL patch gta $name --subresource=status --type=merge \
		-p "{\"status\": {\"history\": [${hist%,}]}}" 2>&1) && {
		$KUBECTL delete gta $name --wait=false >/dev/null
		fail "13 history entries accepted"
	}
	assert_contains "$out" "must have at most 12 items" "history is capped at 12"
	out=$($KUBECTL patch gta $name --subresource=status --type=merge \
		-p '{"status": {"conditions": [{"type": "Ready", "status": "Maybe", "reason": "X", "message": "",
			"lastTransitionTime": "2026-01-01T00:00:00Z"}]}}' 2>&1) && {
		$KUBECTL delete gta $name --wait=false >/dev/null
		fail "condition status Maybe accepted"
	}
	assert_contains "$out" 'Unsupported value: "Maybe"' "condition status enum"
	# Writes to the main resource do not change status.
	out=$($KUBECTL patch gta $name --type=merge -o json -p '{"status": {"gpus": "0/0"}}' 2>&1) || true
	$KUBECTL delete gta $name --wait=false >/dev/null
	assert_not_contains "$out" '"gpus": "0/0"' "main-resource patch leaves status alone"
}

# --- Invalid allocations: each is refused with a message naming the problem.

test_crd_rejects_default_tier_not_in_tiers() {
	_crd_install
	_crd_expect_rejected e2e-crd-bad-default-tier \
		'spec.priorities.defaultTier: "nope" is not one of spec.priorities.tiers' <<'Y'
  namespaces: [team-a]
  priorities:
    tiers: [{name: training, value: 1000}]
    defaultTier: nope
Y
}

test_crd_rejects_duplicate_tier_names() {
	_crd_install
	_crd_expect_rejected e2e-crd-dup-tier "tier names must be unique within spec.priorities.tiers" <<'Y'
  namespaces: [team-a]
  priorities:
    tiers: [{name: training, value: 1000}, {name: training, value: 2000}]
Y
}

test_crd_rejects_unknown_exempt_tier() {
	_crd_install
	_crd_expect_rejected e2e-crd-bad-exempt \
		"spec.budget.exemptTiers" \
		"every entry of spec.budget.exemptTiers must name one of spec.priorities.tiers" <<'Y'
  namespaces: [team-a]
  priorities:
    tiers: [{name: inference, value: 100000}, {name: training, value: 1000}]
  budget: {gpuHours: 100, exemptTiers: [inference, serving]}
Y
	# Without any tiers, no exempt tier can be valid.
	_crd_expect_rejected e2e-crd-bad-exempt2 \
		"every entry of spec.budget.exemptTiers must name one of spec.priorities.tiers" <<'Y'
  namespaces: [team-a]
  budget: {gpuHours: 100, exemptTiers: [inference]}
Y
}

test_crd_rejects_missing_namespaces_and_selector() {
	_crd_install
	_crd_expect_rejected e2e-crd-no-ns \
		"at least one of spec.namespaces and spec.namespaceSelector is required" <<'Y'
  quota: {gpus: 2}
Y
	_crd_expect_rejected e2e-crd-empty-ns \
		"at least one of spec.namespaces and spec.namespaceSelector is required" <<'Y'
  namespaces: []
Y
}

test_crd_rejects_bad_namespaces() {
	_crd_install
	_crd_expect_rejected e2e-crd-bad-ns 'spec.namespaces[1]: Invalid value: "Team_B"' \
		'spec.namespaces[2]: Duplicate value: "team-a"' <<'Y'
  namespaces: [team-a, Team_B, team-a]
Y
	_crd_expect_rejected e2e-crd-bad-selector \
		"values must be non-empty for operators In and NotIn, and empty for Exists and DoesNotExist" <<'Y'
  namespaceSelector:
    matchExpressions: [{key: team, operator: In}]
Y
}

test_crd_rejects_bad_period() {
	_crd_install
	_crd_expect_rejected e2e-crd-bad-period "spec.budget.period" \
		'Invalid value: "Yearly"' "should match" <<'Y'
  namespaces: [team-a]
  budget: {gpuHours: 100, period: Yearly}
Y
	_crd_expect_rejected e2e-crd-short-period "a budget.period duration must be at least 1m" <<'Y'
  namespaces: [team-a]
  budget: {gpuHours: 100, period: 30s}
Y
	_crd_expect_rejected e2e-crd-empty-period "budget.period must not be empty" <<'Y'
  namespaces: [team-a]
  budget: {gpuHours: 100, period: ""}
Y
	_crd_expect_rejected e2e-crd-fraction-period "spec.budget.period" "should match" <<'Y'
  namespaces: [team-a]
  budget: {gpuHours: 100, period: 1.5h}
Y
}

test_crd_rejects_negative_gpus() {
	_crd_install
	_crd_expect_rejected e2e-crd-neg-gpus "spec.quota.gpus: Invalid value: -1" \
		"should be greater than or equal to 0" <<'Y'
  namespaces: [team-a]
  quota: {gpus: -1}
Y
	_crd_expect_rejected e2e-crd-neg-hours "spec.budget.gpuHours" "budget.gpuHours must be >= 0" <<'Y'
  namespaces: [team-a]
  budget: {gpuHours: "-5"}
Y
}

test_crd_rejects_nvidia_resources_in_quota_resources() {
	_crd_install
	_crd_expect_rejected e2e-crd-limits-gpu "spec.quota.resources: Forbidden" \
		"Kubernetes silently ignores the limits.* form of an extended resource" \
		"quota.gpus and quota.migSlices" <<'Y'
  namespaces: [team-a]
  quota:
    resources: {requests.cpu: "8", limits.nvidia.com/gpu: 4}
Y
	_crd_expect_rejected e2e-crd-requests-gpu "must not contain nvidia.com/ resources" <<'Y'
  namespaces: [team-a]
  quota:
    resources: {requests.nvidia.com/mig-1g.10gb: 4}
Y
}

test_crd_rejects_tier_value_too_high() {
	_crd_install
	_crd_expect_rejected e2e-crd-tier-value "spec.priorities.tiers[0].value" \
		"should be less than or equal to 1000000000" <<'Y'
  namespaces: [team-a]
  priorities:
    tiers: [{name: critical, value: 2000000000}]
Y
	_crd_expect_rejected e2e-crd-tier-name "spec.priorities.tiers[0].name" "should match" <<'Y'
  namespaces: [team-a]
  priorities:
    tiers: [{name: Critical_Tier, value: 10}]
Y
}

test_crd_rejects_bad_mig_slice_key() {
	_crd_install
	_crd_expect_rejected e2e-crd-mig-key "spec.quota.migSlices" \
		'migSlices keys must be MIG profile names like "1g.10gb"' <<'Y'
  namespaces: [team-a]
  quota:
    migSlices: {"nvidia.com/mig-1g.10gb": 2}
Y
}

test_crd_rejects_nvidia_container_defaults() {
	_crd_install
	_crd_expect_rejected e2e-crd-gpu-default "spec.limits.container.default" \
		"container defaults may only set cpu, memory and ephemeral-storage" \
		"cap GPUs with limits.maxGPUsPerPod" <<'Y'
  namespaces: [team-a]
  limits:
    container: {default: {cpu: "1", nvidia.com/gpu: 1}}
Y
	_crd_expect_rejected e2e-crd-request-over-limit \
		"each limits.container.defaultRequest value must be <= the limits.container.default value" <<'Y'
  namespaces: [team-a]
  limits:
    container: {defaultRequest: {cpu: "4"}, default: {cpu: 2000m}}
Y
}

test_crd_rejects_bad_weights() {
	_crd_install
	_crd_expect_rejected e2e-crd-weights \
		"budget.weights keys must be nvidia.com/gpu or nvidia.com/mig-<profile>" <<'Y'
  namespaces: [team-a]
  budget: {gpuHours: 10, weights: {amd.com/gpu: 1}}
Y
	# The cost model's bound (1000 GPU-equivalents per device), as a
	# string with an exponent and as an integer; 1000 itself is accepted.
	_crd_expect_rejected e2e-crd-weight-exp "weights must be at most 1000" <<'Y'
  namespaces: [team-a]
  budget: {gpuHours: 10, weights: {nvidia.com/gpu: "1e13"}}
Y
	_crd_expect_rejected e2e-crd-weight-int "weights must be at most 1000" <<'Y'
  namespaces: [team-a]
  budget: {gpuHours: 10, weights: {nvidia.com/mig-1g.10gb: 1001}}
Y
	_crd_expect_accepted e2e-crd-weight-max >/dev/null <<'Y'
  namespaces: [team-a]
  budget: {gpuHours: 10, weights: {nvidia.com/gpu: "1k", nvidia.com/mig-1g.10gb: 1000}}
Y
}

test_crd_rejects_long_or_reserved_name() {
	_crd_install
	_crd_expect_rejected "$(printf 'a%.0s' {1..64})" \
		"metadata.name must be a DNS-1123 label (at most 63" <<'Y'
  namespaces: [team-a]
Y
	_crd_expect_rejected system-team 'may not be named "system" or "system-*"' <<'Y'
  namespaces: [team-a]
  priorities:
    tiers: [{name: high, value: 10}]
Y
}
