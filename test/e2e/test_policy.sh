# The ValidatingAdmissionPolicies of manifests/policy.yaml on the real
# apiserver: requests made as the controller's ServiceAccount (kubectl --as)
# may change only what gpuquota owns, and nobody else may remove the budget
# gate. The whole suite runs with the policies installed (controller_install),
# so the controller's own writes are checked by every other test.

POL_SA=system:serviceaccount:gpuquota-system:gpuquota-controller

# pol_plain_pod NS NAME [gate]: a pod without GPUs (the webhook ignores it).
pol_plain_pod() {
	{
		printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: %s}\nspec:\n' "$2" "$1"
		[ -n "${3-}" ] && printf '  schedulingGates: [{name: %s}]\n' "$3"
		printf '  containers: [{name: main, image: registry.example/app:1}]\n'
	} | $KUBECTL apply -f - >/dev/null
}

test_policy_a_controller_may_change_only_its_own_fields_of_pods_and_namespaces() {
	local ns=e2e-pol out
	# The running controller would release the finalizer added below (the pod
	# is no team's): these requests are made on its behalf, with it stopped.
	controller_stop
	controller_install
	new_ns $ns
	# Namespaces: the team label only.
	out=$($KUBECTL --as $POL_SA label namespace $ns owner=someone 2>&1) && fail "other label set: $out"
	assert_contains "$out" "may change only the gpuquota.io/team and gpuquota.io/mig-config labels of a namespace" \
		"namespace label refused"
	$KUBECTL --as $POL_SA label namespace $ns gpuquota.io/team=pol gpuquota.io/mig-config=all-1g.10gb >/dev/null
	assert_eq "$(jp namespace/$ns '{.metadata.labels.gpuquota\.io/team}')" pol "team label set"
	$KUBECTL --as $POL_SA label namespace $ns gpuquota.io/team- gpuquota.io/mig-config- >/dev/null
	# Pods: its finalizer and nothing else.
	pol_plain_pod $ns app
	out=$($KUBECTL --as $POL_SA -n $ns set image pod/app main=registry.example/other:1 2>&1) &&
		fail "image changed: $out"
	assert_contains "$out" "may change only its own finalizer and scheduling gate on a pod" "image refused"
	out=$($KUBECTL --as $POL_SA -n $ns label pod app x=y 2>&1) && fail "pod label set: $out"
	assert_contains "$out" "may change only its own finalizer" "pod label refused"
	out=$($KUBECTL --as $POL_SA -n $ns patch pod app --type json \
		-p '[{"op":"add","path":"/metadata/finalizers","value":["example.com/other"]}]' 2>&1) &&
		fail "foreign finalizer added: $out"
	assert_contains "$out" "only the gpuquota.io/accounting finalizer" "foreign finalizer refused"
	$KUBECTL --as $POL_SA -n $ns patch pod app --type json \
		-p '[{"op":"add","path":"/metadata/finalizers","value":["gpuquota.io/accounting"]}]' >/dev/null
	assert_eq "$(jp pod/app '{.metadata.finalizers[*]}' $ns)" gpuquota.io/accounting "own finalizer added"
	$KUBECTL --as $POL_SA -n $ns patch pod app --type json -p '[{"op":"remove","path":"/metadata/finalizers/0"}]' >/dev/null
	assert_eq "$(jp pod/app '{.metadata.finalizers}' $ns)" "" "own finalizer removed"
	$KUBECTL -n $ns delete pod app --wait=false >/dev/null
}

test_policy_b_only_the_controller_removes_the_budget_gate() {
	local ns=e2e-polgate out
	controller_install
	new_ns $ns
	pol_plain_pod $ns held gpuquota.io/budget
	# Not even a cluster admin: the gate is the budget's.
	out=$($KUBECTL -n $ns patch pod held --type json -p '[{"op":"remove","path":"/spec/schedulingGates/0"}]' 2>&1) &&
		fail "admin removed the gate: $out"
	assert_contains "$out" "the gpuquota.io/budget scheduling gate is removed only by gpuquota" "gate removal refused"
	assert_eq "$(jp pod/held '{.spec.schedulingGates[*].name}' $ns)" gpuquota.io/budget "still gated"
	# Other changes to a held pod stay possible.
	$KUBECTL -n $ns label pod held x=y >/dev/null
	# The controller's ServiceAccount may remove it (and nothing else).
	$KUBECTL --as $POL_SA -n $ns patch pod held --type json -p '[{"op":"remove","path":"/spec/schedulingGates/0"}]' >/dev/null
	assert_eq "$(jp pod/held '{.spec.schedulingGates}' $ns)" "" "gate removed by the controller"
	$KUBECTL -n $ns delete pod held --wait=false >/dev/null
}

test_policy_c_controller_touches_only_managed_quotas_classes_and_its_ca_bundle() {
	local ns=e2e-polrq out ca
	controller_install
	new_ns $ns
	# Quotas and limit ranges: only those labelled managed-by=gpuquota.
	out=$($KUBECTL --as $POL_SA -n $ns create quota foreign --hard pods=5 2>&1) && fail "unlabelled quota created: $out"
	assert_contains "$out" "only objects labelled app.kubernetes.io/managed-by=gpuquota" "quota create refused"
	$KUBECTL -n $ns create quota foreign --hard pods=5 >/dev/null
	out=$($KUBECTL --as $POL_SA -n $ns delete quota foreign 2>&1) && fail "foreign quota deleted: $out"
	assert_contains "$out" "only objects labelled app.kubernetes.io/managed-by=gpuquota" "quota delete refused"
	out=$($KUBECTL --as $POL_SA -n $ns label quota foreign app.kubernetes.io/managed-by=gpuquota 2>&1) &&
		fail "foreign quota adopted: $out"
	assert_contains "$out" "only objects labelled" "quota adoption refused"
	printf 'apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: mine, namespace: %s, labels: {app.kubernetes.io/managed-by: gpuquota}}\nspec: {hard: {pods: "3"}}\n' $ns |
		$KUBECTL --as $POL_SA apply --server-side --field-manager gpuquota -f - >/dev/null
	$KUBECTL --as $POL_SA -n $ns delete quota mine >/dev/null
	out=$(printf 'apiVersion: v1\nkind: LimitRange\nmetadata: {name: lr, namespace: %s}\nspec: {limits: [{type: Container, default: {cpu: 100m}}]}\n' $ns |
		$KUBECTL --as $POL_SA create -f - 2>&1) && fail "unlabelled limit range created: $out"
	assert_contains "$out" "only objects labelled" "limit range refused"
	# PriorityClasses: the same rule.
	out=$($KUBECTL --as $POL_SA create priorityclass e2e-pol-foreign --value 10 2>&1) && fail "class created: $out"
	assert_contains "$out" "only objects labelled" "class refused"
	# Its webhook configuration: the CA bundle only.
	out=$($KUBECTL --as $POL_SA patch mutatingwebhookconfiguration gpuquota --type json \
		-p '[{"op":"replace","path":"/webhooks/0/timeoutSeconds","value":30}]' 2>&1) && fail "webhook changed: $out"
	assert_contains "$out" "may change only clientConfig.caBundle of its webhook configuration" "webhook rule refused"
	out=$($KUBECTL --as $POL_SA patch mutatingwebhookconfiguration gpuquota --type json \
		-p '[{"op":"replace","path":"/webhooks/0/failurePolicy","value":"Fail"}]' 2>&1) && fail "failurePolicy changed: $out"
	assert_contains "$out" "clientConfig.caBundle" "failurePolicy refused"
	out=$($KUBECTL --as $POL_SA patch mutatingwebhookconfiguration gpuquota --type json \
		-p '[{"op":"add","path":"/webhooks/0/rules/0/operations/-","value":"UPDATE"}]' 2>&1) && fail "webhook rules changed: $out"
	assert_contains "$out" "clientConfig.caBundle" "rules refused"
	ca=$(jp mutatingwebhookconfiguration/gpuquota '{.webhooks[0].clientConfig.caBundle}')
	$KUBECTL --as $POL_SA patch mutatingwebhookconfiguration gpuquota --type json \
		-p "[{\"op\":\"add\",\"path\":\"/webhooks/0/clientConfig/caBundle\",\"value\":\"${ca:-Cg==}\"}]" >/dev/null
	$KUBECTL -n $ns delete quota foreign >/dev/null
}

test_policy_d_rbac_grants_nothing_unused() {
	controller_install
	assert_eq "$($KUBECTL auth can-i patch nodes --as $POL_SA 2>/dev/null)" yes "nodes: patch (spec.sharing)"
	assert_eq "$($KUBECTL auth can-i delete nodes --as $POL_SA 2>/dev/null)" no "no node deletion"
	assert_eq "$($KUBECTL auth can-i create pods --subresource=eviction -n default --as $POL_SA 2>/dev/null)" yes "evictions"
	assert_eq "$($KUBECTL auth can-i delete pods -n default --as $POL_SA 2>/dev/null)" no "no pod deletion (evictions only)"
	assert_eq "$($KUBECTL auth can-i watch resourceslices.resource.k8s.io --as $POL_SA 2>/dev/null)" yes "ResourceSlices: watch (DRA nodes)"
	assert_eq "$($KUBECTL auth can-i get resourceslices.resource.k8s.io --as $POL_SA 2>/dev/null)" no "ResourceSlices: list and watch only"
	assert_eq "$($KUBECTL auth can-i create resourceclaims.resource.k8s.io -n default --as $POL_SA 2>/dev/null)" no "no ResourceClaims"
	assert_eq "$($KUBECTL auth can-i create events.events.k8s.io -n default --as $POL_SA 2>/dev/null)" no "no events.k8s.io"
	assert_eq "$($KUBECTL auth can-i get validatingwebhookconfigurations/gpuquota --as $POL_SA 2>/dev/null)" no "no validating webhooks"
	assert_eq "$($KUBECTL auth can-i get mutatingwebhookconfigurations/other --as $POL_SA 2>/dev/null)" no "only its own webhook"
	assert_eq "$($KUBECTL auth can-i create leases.coordination.k8s.io -n gpuquota-system --as $POL_SA 2>/dev/null)" yes "its Lease: create"
	assert_eq "$($KUBECTL auth can-i update leases.coordination.k8s.io/gpuquota-controller -n gpuquota-system --as $POL_SA 2>/dev/null)" yes "its Lease: update"
	assert_eq "$($KUBECTL auth can-i update leases.coordination.k8s.io/other -n gpuquota-system --as $POL_SA 2>/dev/null)" no "no other Lease"
	assert_eq "$($KUBECTL auth can-i delete leases.coordination.k8s.io/gpuquota-controller -n gpuquota-system --as $POL_SA 2>/dev/null)" no "no Lease deletion"
	assert_eq "$($KUBECTL auth can-i create leases.coordination.k8s.io -n default --as $POL_SA 2>/dev/null)" no "no Leases in other namespaces"
	assert_eq "$($KUBECTL auth can-i update gputeamallocations --as $POL_SA 2>/dev/null)" no "no allocation updates"
	assert_eq "$($KUBECTL auth can-i patch secrets/gpuquota-webhook-tls -n gpuquota-system --as $POL_SA 2>/dev/null)" no "secret: get and update only"
	assert_eq "$($KUBECTL auth can-i patch pods -n default --as $POL_SA 2>/dev/null)" yes "pods: patch"
	assert_eq "$($KUBECTL auth can-i create events -n default --as $POL_SA 2>/dev/null)" yes "core events"
}

# Nodes (spec.sharing): the controller may set its pool labels and
# annotations, cordon, and add or remove the gpuquota.io/pool taint; any
# other label, annotation or taint is refused.
test_policy_e_controller_touches_only_its_pool_fields_of_nodes() {
	local node=e2e-pol-node out
	controller_install
	$KUBECTL delete node $node --ignore-not-found >/dev/null
	$KUBECTL apply -f - >/dev/null <<Y
apiVersion: v1
kind: Node
metadata:
  name: $node
  annotations: {kwok.x-k8s.io/node: fake}
  labels: {gpuquota.io/test-pool: pol}
spec:
  taints: [{key: gpuquota.io/test-pool, value: pol, effect: NoSchedule}]
Y
	out=$($KUBECTL --as $POL_SA label node $node owner=someone 2>&1) && fail "other node label set: $out"
	assert_contains "$out" "may change only its pool labels" "node label refused"
	out=$($KUBECTL --as $POL_SA annotate node $node example.com/x=y 2>&1) && fail "node annotation set: $out"
	out=$($KUBECTL --as $POL_SA taint node $node gpuquota.io/test-pool- 2>&1) && fail "foreign taint removed: $out"
	out=$($KUBECTL --as $POL_SA taint node $node example.com/t=x:NoSchedule 2>&1) && fail "foreign taint added: $out"
	$KUBECTL --as $POL_SA label node $node gpuquota.io/pool=pol nvidia.com/mig.config=all-1g.10gb >/dev/null ||
		fail "pool labels refused"
	$KUBECTL --as $POL_SA annotate node $node gpuquota.io/sharing-step=draining >/dev/null ||
		fail "sharing annotation refused"
	$KUBECTL --as $POL_SA cordon $node >/dev/null || fail "cordon refused"
	$KUBECTL --as $POL_SA taint node $node gpuquota.io/pool=pol:NoSchedule >/dev/null || fail "pool taint refused"
	out=$(jp node/$node '{.spec.taints[*].key}')
	assert_contains "$out" "gpuquota.io/test-pool" "foreign taint kept"
	assert_contains "$out" "gpuquota.io/pool" "pool taint set"
	$KUBECTL --as $POL_SA taint node $node gpuquota.io/pool- >/dev/null || fail "pool taint removal refused"
	$KUBECTL --as $POL_SA uncordon $node >/dev/null || fail "uncordon refused"
	$KUBECTL delete node $node --wait=false >/dev/null
}
