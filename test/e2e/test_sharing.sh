# e2e: spec.sharing applied to a team's node pool -- the controller labels
# the pool's nodes with nvidia.com/mig.config, cordons a node and waits for
# (or evicts, through the Eviction API and its PodDisruptionBudgets) its GPU
# pods before reconfiguring it, and uncordons it once the fake mig-manager
# (test/cluster/fake-mig-manager.sh) reports nvidia.com/mig.config.state
# success. Every test brings its own simulated node (share-<x>-0, test pool
# share-<x>) and deletes it at the end; the nodes are tainted so that only
# this file's pods land there. A node whose GPUs a ResourceSlice of NVIDIA's DRA
# driver publishes is never written.

# share_node NAME POOL: a kwok node like gpu-node-0 (8 whole H100s, MIG
# capable, all-disabled and settled) in test pool POOL, tainted
# gpuquota.io/test-pool=POOL:NoSchedule. A node of that name left by an
# earlier run is replaced.
share_node() {
	$KUBECTL delete node "$1" --ignore-not-found --wait=true >/dev/null
	$KUBECTL apply -f - >/dev/null <<Y
apiVersion: v1
kind: Node
metadata:
  name: $1
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels:
    type: kwok
    kubernetes.io/hostname: $1
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    gpuquota.io/test-pool: $2
    nvidia.com/gpu.present: "true"
    nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3
    nvidia.com/gpu.memory: "81559"
    nvidia.com/gpu.family: hopper
    nvidia.com/gpu.machine: PowerEdge-XE9680
    nvidia.com/cuda.driver.major: "570"
    nvidia.com/mig.capable: "true"
    nvidia.com/gpu.count: "8"
    nvidia.com/gpu.replicas: "1"
    nvidia.com/gpu.sharing-strategy: none
    nvidia.com/mig.config: all-disabled
    nvidia.com/mig.config.state: success
spec:
  taints: [{key: gpuquota.io/test-pool, value: $2, effect: NoSchedule}]
status:
  allocatable:
    cpu: "96"
    memory: 1Ti
    pods: "110"
    nvidia.com/gpu: "8"
  capacity:
    cpu: "96"
    memory: 1Ti
    pods: "110"
    nvidia.com/gpu: "8"
Y
	wait_for 60 sh -c "$KUBECTL get node $1 --no-headers | grep -q ' Ready'"
}

# share_pod NS NAME RESOURCE POOL [LABELS]: a pod asking for one RESOURCE
# (nvidia.com/gpu, nvidia.com/mig-<profile>) on test pool POOL, running
# until deleted. LABELS: a flow-style map body, e.g. "app: x".
share_pod() {
	$KUBECTL apply -f - >/dev/null <<Y
apiVersion: v1
kind: Pod
metadata:
  name: $2
  namespace: $1
  labels: {${5-}}
spec:
  nodeSelector: {gpuquota.io/test-pool: $4}
  tolerations: [{key: gpuquota.io/test-pool, operator: Equal, value: $4, effect: NoSchedule}]
  containers:
  - name: main
    image: registry.example/train:1
    resources: {limits: {$3: "1"}}
Y
}

# share_team NAME NS POOL MIGCONFIG [EXTRA]: an allocation whose sharing
# selects test pool POOL; EXTRA: more lines under spec.sharing.
share_team() {
	apply_team "$1" "  namespaces: [$2]
  quota: {gpus: 8, migSlices: {\"3g.40gb\": 16}}
  sharing:
    nodeSelector: {matchLabels: {gpuquota.io/test-pool: $3}}
    migConfig: $4${5:+
$5}"
}

# share_field TEAM FIELD: a field of the team's first (here: only) pool node
# in status.nodes.
share_field() { jp "gta/$1" "{.status.nodes[0].$2}"; }

share_field_is() { [ "$(share_field "$1" "$2")" = "$3" ]; }

# node_label NODE KEY
node_label() { jp "node/$1" "{.metadata.labels.${2//./\\.}}"; }

node_label_is() { [ "$(node_label "$1" "$2")" = "$3" ]; }

cordoned() { [ "$(jp "node/$1" '{.spec.unschedulable}')" = true ]; }

uncordoned() { [ "$(jp "node/$1" '{.spec.unschedulable}')" != true ]; }

# sharing_is TEAM STATUS REASON: the SharingReady condition.
sharing_is() {
	cond_is "$1" SharingReady "$2" &&
		[ "$(jp "gta/$1" '{.status.conditions[?(@.type=="SharingReady")].reason}')" = "$3" ]
}

# share_settled NODE CONFIG: the MIG manager applied CONFIG and the node is
# schedulable again.
share_settled() {
	node_label_is "$1" nvidia.com/mig.config "$2" && node_label_is "$1" nvidia.com/mig.config.state success &&
		uncordoned "$1"
}

# node_pool_taint NODE: the value of the node's gpuquota.io/pool taint.
node_pool_taint() { jp "node/$1" '{.spec.taints[?(@.key=="gpuquota.io/pool")].value}'; }

node_pool_taint_is() { [ "$(node_pool_taint "$1")" = "$2" ]; }

# ns_mig_label_is NS VALUE: the namespace's gpuquota.io/mig-config label.
ns_mig_label_is() { [ "$(jp "ns/$1" '{.metadata.labels.gpuquota\.io/mig-config}')" = "$2" ]; }

# share_untouched NODE: none of our marks on a node of the initial layout.
share_untouched() {
	node_label_is "$1" nvidia.com/mig.config all-disabled && node_label_is "$1" gpuquota.io/pool "" &&
		node_pool_taint_is "$1" "" && uncordoned "$1"
}

# pin_pod NS NAME RESOURCE TOLERATIONS [RUN_FOR]: a pod asking for one
# RESOURCE with no node selector of its own and the given tolerations (a
# flow-style list).
pin_pod() {
	$KUBECTL apply -f - <<Y
apiVersion: v1
kind: Pod
metadata:
  name: $2
  namespace: $1
  annotations: {${5:+test.gpuquota.io/run-for: "$5"}}
spec:
  tolerations: $4
  containers:
  - name: main
    image: registry.example/train:1
    resources: {limits: {$3: "1"}}
Y
}

# share_observed TEAM: the controller has seen the team's current spec.
share_observed() {
	[ "$(jp "gta/$1" '{.status.observedGeneration}')" = "$(jp "gta/$1" '{.metadata.generation}')" ]
}

# share_holds SECONDS CMD...: CMD keeps succeeding, checked every 0.5 s.
share_holds() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 2; i++)); do
		if ! "$@" >/dev/null 2>&1; then
			fail "stopped holding after $((i / 2))s: $*"
			return 1
		fi
		sleep 0.5
	done
}

test_sharing_reconfigure_waits_for_running_pod() {
	local ns=e2e-share-a node=share-a-0
	controller_start
	share_node $node share-a
	new_ns $ns
	share_team share-a $ns share-a all-disabled
	wait_for 30 share_field_is share-a phase Ready
	wait_for 30 node_label_is $node gpuquota.io/pool share-a
	assert_eq "$(share_field share-a name) $(share_field share-a desiredConfig)" "$node all-disabled" \
		"pool node in status"
	wait_for 30 rq_hard_is $ns gpuquota-share-a requests.nvidia.com/gpu 8
	share_pod $ns job nvidia.com/gpu share-a
	wait_for 30 phase_is $ns job Running
	assert_eq "$(jp pod/job '{.spec.nodeName}' $ns)" $node "GPU pod on the pool node"
	# The pool has whole GPUs (all-disabled): the team's whole-GPU pod is pinned to it.
	assert_eq "$(jp pod/job '{.spec.nodeSelector.gpuquota\.io/pool}' $ns)" share-a \
		"whole-GPU pod pinned to a pool with whole GPUs"

	$KUBECTL patch gta share-a --type merge -p '{"spec":{"sharing":{"migConfig":"all-3g.40gb"}}}' >/dev/null
	wait_for 30 cordoned $node
	wait_for 30 share_field_is share-a phase Draining
	# The pass after the cordon counts the node's GPU pods.
	wait_for 30 sh -c "$KUBECTL get gta share-a -o jsonpath='{.status.nodes[0].message}' | grep -q '1 GPU pod'"
	wait_for 30 sharing_is share-a False Reconfiguring
	# Not reconfigured under a running pod.
	share_holds 5 node_label_is $node nvidia.com/mig.config all-disabled
	assert_eq "$(pod_phase $ns job)" Running "GPU pod keeps running while the node drains"
	assert_eq "$(share_field share-a phase)" Draining "phase while the pod runs"

	$KUBECTL -n $ns delete pod job --wait=true >/dev/null
	wait_for 60 share_settled $node all-3g.40gb
	wait_for 60 share_field_is share-a phase Ready
	wait_for 60 cond_is share-a SharingReady True
	assert_eq "$(share_field share-a observedConfig) $(share_field share-a configState)" "all-3g.40gb success" \
		"observed layout in status"
	assert_eq "$(jp node/$node '{.status.allocatable.nvidia\.com/mig-3g\.40gb}')" 16 "3g.40gb slices"

	share_pod $ns slice nvidia.com/mig-3g.40gb share-a
	wait_for 30 phase_is $ns slice Running
	assert_eq "$(jp pod/slice '{.spec.nodeName}' $ns)" $node "MIG pod on the reconfigured node"

	$KUBECTL -n $ns delete pod --all --wait=true >/dev/null
	$KUBECTL delete gta share-a --wait=true --timeout=60s >/dev/null
	$KUBECTL delete node $node --wait=true >/dev/null
}

test_sharing_evict_honours_pdb() {
	local ns=e2e-share-b node=share-b-0
	controller_start
	share_node $node share-b
	new_ns $ns
	share_team share-b $ns share-b all-disabled "    evict: true
    drainTimeout: 3s"
	wait_for 30 share_field_is share-b phase Ready
	wait_for 30 rq_hard_is $ns gpuquota-share-b requests.nvidia.com/gpu 8
	share_pod $ns job nvidia.com/gpu share-b "app: share-b-job"
	wait_for 30 phase_is $ns job Running
	$KUBECTL apply -f - >/dev/null <<Y
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: share-b-job, namespace: $ns}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: share-b-job}}
Y
	# Evictions are decided on the budget's status, once the disruption
	# controller has computed it.
	wait_for 30 sh -c "[ \"\$($KUBECTL -n $ns get pdb share-b-job -o jsonpath='{.status.observedGeneration}')\" = 1 ]"

	$KUBECTL patch gta share-b --type merge -p '{"spec":{"sharing":{"migConfig":"all-2g.20gb"}}}' >/dev/null
	wait_for 30 cordoned $node
	wait_for 30 share_field_is share-b phase Evicting
	# The PodDisruptionBudget refuses the eviction (429), retried.
	sleep 8
	assert_eq "$(pod_phase $ns job)" Running "pod protected by its PodDisruptionBudget"
	assert_eq "$(jp pod/job '{.metadata.deletionTimestamp}' $ns)" "" "pod not deleted"
	assert_eq "$(share_field share-b phase)" Evicting "phase while the eviction is refused"
	assert_eq "$(node_label $node nvidia.com/mig.config)" all-disabled "layout while the pod runs"

	$KUBECTL -n $ns delete pdb share-b-job >/dev/null
	wait_for 60 sh -c "! $KUBECTL -n $ns get pod job >/dev/null 2>&1"
	wait_for 60 share_settled $node all-2g.20gb
	wait_for 60 share_field_is share-b phase Ready
	assert_eq "$(jp node/$node '{.status.allocatable.nvidia\.com/mig-2g\.20gb}')" 24 "2g.20gb slices"

	$KUBECTL -n $ns delete pod --all --wait=true >/dev/null
	$KUBECTL delete gta share-b --wait=true --timeout=60s >/dev/null
	$KUBECTL delete node $node --wait=true >/dev/null
}

test_sharing_conflict_two_teams() {
	local node=share-c-0 t
	controller_start
	new_ns e2e-share-c1
	new_ns e2e-share-c2
	# Both teams exist before their node does: no window in which one of
	# them alone selects it.
	share_team share-c1 e2e-share-c1 share-c all-1g.10gb
	share_team share-c2 e2e-share-c2 share-c all-7g.80gb
	wait_for 30 share_observed share-c1
	wait_for 30 share_observed share-c2
	share_node $node share-c
	for t in share-c1 share-c2; do
		wait_for 30 sharing_is $t False Conflict
		wait_for 30 share_field_is $t phase Conflict
		assert_eq "$(share_field $t name)" $node "$t lists the node"
	done
	share_holds 10 share_untouched $node
	assert_eq "$(node_label $node gpuquota.io/pool)" "" "no pool label on a contested node"

	$KUBECTL delete gta share-c1 share-c2 --wait=true --timeout=60s >/dev/null
	$KUBECTL delete node $node --wait=true >/dev/null
}

test_sharing_unknown_config_fails() {
	local ns=e2e-share-d node=share-d-0
	controller_start
	share_node $node share-d
	new_ns $ns
	share_team share-d $ns share-d no-such-layout
	wait_for 60 share_field_is share-d phase Failed
	assert_eq "$(share_field share-d configState)" failed "configState"
	assert_eq "$(node_label $node nvidia.com/mig.config.state)" failed "MIG manager state"
	wait_for 30 sharing_is share-d False ReconfigureFailed
	# A failed node stays cordoned until the layout changes or sharing goes.
	assert_eq "$(jp node/$node '{.spec.unschedulable}')" true "failed node stays cordoned"
	# Removing the allocation uncordons it and removes our label.
	$KUBECTL delete gta share-d --wait=true --timeout=60s >/dev/null
	wait_for 30 uncordoned $node
	wait_for 30 node_label_is $node gpuquota.io/pool ""

	$KUBECTL delete node $node --wait=true >/dev/null
}

test_sharing_removal_restores_node() {
	local ns=e2e-share-e node=share-e-0
	controller_start
	share_node $node share-e
	new_ns $ns
	share_team share-e $ns share-e all-3g.40gb
	wait_for 60 share_settled $node all-3g.40gb
	wait_for 60 share_field_is share-e phase Ready
	wait_for 30 node_label_is $node gpuquota.io/pool share-e

	$KUBECTL patch gta share-e --type=json -p '[{"op":"remove","path":"/spec/sharing"}]' >/dev/null
	wait_for 30 node_label_is $node gpuquota.io/pool ""
	wait_for 30 sh -c "! $KUBECTL get node $node -o jsonpath='{.metadata.annotations}' | grep -q gpuquota.io/sharing-"
	assert_not_contains "$(jp node/$node '{.metadata.labels}')" gpuquota.io/pool "our label removed"
	uncordoned $node || fail "node still cordoned after sharing was removed"
	# The layout is left as it is.
	share_holds 5 node_label_is $node nvidia.com/mig.config all-3g.40gb
	assert_eq "$(node_label $node nvidia.com/mig.config.state)" success "layout state"

	$KUBECTL delete gta share-e --wait=true --timeout=60s >/dev/null
	$KUBECTL delete node $node --wait=true >/dev/null
}

# The nodes the scheduler must report as blocked by a taint for pod $2 in
# namespace $1: not cordoned (that is reported first), with a NoSchedule or
# NoExecute taint that none of the pod's tolerations matches. Prints
# "<count> <names>"; the count is what "N node(s) had untolerated taint"
# says in the pod's PodScheduled message.
taint_blocked() {
	local pod nodes
	pod=$($KUBECTL -n "$1" get pod "$2" -o json) || return 1
	nodes=$($KUBECTL get nodes -o json) || return 1
	jq -rn --argjson p "$pod" --argjson n "$nodes" '
		def tolerates($t):
			(((.key // "") == "" and .operator == "Exists")
			 or ((.key // "") == $t.key
			     and ((.operator // "Equal") == "Exists" or (.value // "") == ($t.value // ""))))
			and ((.effect // "") == "" or .effect == $t.effect);
		[$n.items[] | select((.spec.unschedulable // false) | not)
		 | select(any(.spec.taints[]?; . as $t
			| ($t.effect == "NoSchedule" or $t.effect == "NoExecute")
			  and (any($p.spec.tolerations[]?; tolerates($t)) | not)))
		 | .metadata.name] | "\(length) \(join(" "))"'
}

# True when pod $2 in namespace $1 is reported unschedulable with exactly
# the nodes taint_blocked computes, and node $3 is one of them.
taint_keeps_off() {
	local b msg
	b=$(taint_blocked "$1" "$2") || return 1
	case " ${b#* } " in *" $3 "*) ;; *) return 1 ;; esac
	msg=$(jp "pod/$2" '{.status.conditions[?(@.type=="PodScheduled")].message}' "$1")
	case "$msg" in *" ${b%% *} node(s) had untolerated taint"*) return 0 ;; esac
	return 1
}

# The namespace is pinned to its pool: the webhook gives the team's GPU pods
# the pool's nodeSelector and the toleration of its taint; the pool's taint
# keeps another team's GPU pods off it, and a pod of a team without a pool
# that tolerates pool taints is denied. A MIG pool pins the pods asking for
# MIG slices; a MIG pod on the pool is charged the MIG weight (3g = 3/7 GPU).
test_sharing_pool_pinning() {
	local ns=e2e-share-p other=e2e-share-q node=share-p-0 testtol out s f truth whole used diff
	testtol='[{key: gpuquota.io/test-pool, operator: Exists, effect: NoSchedule}]'
	controller_start
	share_node $node share-p
	new_ns $ns
	new_ns $other
	apply_team share-p "  namespaces: [$ns]
  quota: {gpus: 8, migSlices: {\"3g.40gb\": 16}}
  budget: {gpuHours: \"100\", period: Monthly, onExhausted: Deny}
  sharing:
    nodeSelector: {matchLabels: {gpuquota.io/test-pool: share-p}}
    migConfig: all-3g.40gb"
	apply_team share-q "  namespaces: [$other]
  quota: {gpus: 8, migSlices: {\"3g.40gb\": 16}}"
	wait_for 60 share_settled $node all-3g.40gb
	wait_for 30 node_pool_taint_is $node share-p
	assert_eq "$(jp node/$node '{.spec.taints[?(@.key=="gpuquota.io/pool")].effect}')" NoSchedule "pool taint effect"
	assert_eq "$(node_pool_taint $node | wc -w)" 1 "one pool taint"
	assert_contains "$(jp node/$node '{.spec.taints[*].key}')" gpuquota.io/test-pool "the node's other taint kept"
	wait_for 30 ns_mig_label_is $ns all-3g.40gb
	ns_mig_label_is $other "" || fail "a team without sharing got a mig-config label"
	wait_for 30 team_ready share-q

	# The team's MIG pod names no node: pinned to the pool and charged 3/7.
	pin_pod $ns slice nvidia.com/mig-3g.40gb "$testtol" 20s >/dev/null || fail "pool team's pod not created"
	assert_eq "$(jp pod/slice '{.spec.nodeSelector.gpuquota\.io/pool}' $ns)" share-p "pool nodeSelector injected"
	assert_eq "$(jp pod/slice '{.spec.tolerations[?(@.key=="gpuquota.io/pool")].value}' $ns)" share-p \
		"pool toleration injected"
	wait_for 30 phase_is $ns slice Running
	assert_eq "$(jp pod/slice '{.spec.nodeName}' $ns)" $node "pinned pod on the pool node"
	# A MIG pool serves MIG pods: the team's whole-GPU pod is not pinned
	# (the pool has no whole GPU left) and runs on another node.
	pin_pod $ns whole nvidia.com/gpu "$testtol" 5s >/dev/null || fail "pool team's whole-GPU pod not created"
	assert_eq "$(jp pod/whole '{.spec.nodeSelector}' $ns)" "" "whole-GPU pod not pinned to a MIG pool"
	wait_for 30 sh -c "$KUBECTL -n $ns get pod whole -o jsonpath='{.spec.nodeName}' | grep -q ."
	[ "$(jp pod/whole '{.spec.nodeName}' $ns)" != $node ] || fail "whole-GPU pod on the MIG pool"

	# Another team's pod that would fit the node (it tolerates the test
	# taint and selects the test pool) is kept off by the pool taint: the
	# node's only other taint is the test one, which it tolerates.
	$KUBECTL apply -f - >/dev/null <<Y
apiVersion: v1
kind: Pod
metadata: {name: intruder, namespace: $other}
spec:
  nodeSelector: {gpuquota.io/test-pool: share-p}
  tolerations: $testtol
  containers:
  - name: main
    image: registry.example/train:1
    resources: {limits: {nvidia.com/mig-3g.40gb: "1"}}
Y
	share_holds 5 phase_is $other intruder Pending
	assert_eq "$(jp node/$node '{.spec.taints[*].key}')" "gpuquota.io/test-pool gpuquota.io/pool" "the node's taints"
	# The scheduler's message counts every node a taint blocks (the bed's
	# real node too): the count must be exactly the nodes whose taints the
	# intruder does not tolerate, the pool node among them.
	wait_for 30 taint_keeps_off $other intruder $node
	echo "    intruder kept off by taints on: $(taint_blocked $other intruder | cut -d' ' -f2-)"
	# ... and one tolerating every taint is denied at admission.
	if out=$(pin_pod $other wildcard nvidia.com/mig-3g.40gb '[{operator: Exists}]' 2>&1); then
		fail "a pod tolerating pool taints was admitted in a team without a pool"
	fi
	assert_contains "$out" "tolerates the taint gpuquota.io/pool" "denial names the taint"
	assert_contains "$out" "its team has no pool" "denial says why"

	# The MIG weight: ground truth from the pods' own timestamps, the
	# slice's x 3/7 plus the whole GPU's x 1.
	wait_for 60 phase_is $ns slice Succeeded
	wait_for 60 phase_is $ns whole Succeeded
	s=$(jp pod/slice '{.status.startTime}' $ns)
	f=$(jp pod/slice '{.status.containerStatuses[0].state.terminated.finishedAt}' $ns)
	truth=$((($(date -d "$f" +%s) - $(date -d "$s" +%s)) * 1000000 * 3 / 7))
	whole=$((($(date -d "$(jp pod/whole '{.status.containerStatuses[0].state.terminated.finishedAt}' $ns)" +%s) -
		$(date -d "$(jp pod/whole '{.status.startTime}' $ns)" +%s)) * 1000000))
	truth=$((truth + whole))
	wait_for 30 sh -c "[ \"\$($KUBECTL get gta share-p -o jsonpath='{.status.usage.usedMicroGPUSeconds}')\" -ge $((truth - 1000000)) ]"
	sleep 3
	used=$(jp gta/share-p '{.status.usage.usedMicroGPUSeconds}')
	diff=$((used - truth))
	echo "    MIG weight: 3g.40gb pod ran $(($(date -d "$f" +%s) - $(date -d "$s" +%s)))s, whole GPU $((whole / 1000000))s; truth (3/7 and 1) $truth uGPU-s, ledger $used uGPU-s"
	[ "${diff#-}" -le 1000000 ] || fail "ledger off by ${diff} micro GPU-seconds (weights 3/7 and 1)"

	# Removing sharing removes the taint and the namespace label.
	$KUBECTL -n $ns delete pod --all --wait=true >/dev/null
	$KUBECTL -n $other delete pod --all --wait=true >/dev/null
	$KUBECTL patch gta share-p --type=json -p '[{"op":"remove","path":"/spec/sharing"}]' >/dev/null
	wait_for 30 node_pool_taint_is $node ""
	wait_for 30 ns_mig_label_is $ns ""
	assert_contains "$(jp node/$node '{.spec.taints[*].key}')" gpuquota.io/test-pool "the other taint kept"

	$KUBECTL delete gta share-p share-q --wait=true --timeout=60s >/dev/null
	$KUBECTL delete node $node --wait=true >/dev/null
}

# dra_slice NODE: a ResourceSlice of NVIDIA's DRA driver publishing one GPU of
# NODE (as the driver's kubelet plugin would).
dra_slice() {
	$KUBECTL apply -f - >/dev/null <<Y
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata: {name: $1-gpu.nvidia.com}
spec:
  driver: gpu.nvidia.com
  nodeName: $1
  pool: {name: $1, generation: 1, resourceSliceCount: 1}
  devices:
  - name: gpu-0
    attributes:
      type: {string: gpu}
      productName: {string: NVIDIA H100 80GB HBM3}
Y
}

test_sharing_dra_node_left_alone() {
	local ns=e2e-share-r node=share-r-0
	controller_start
	share_node $node share-r
	dra_slice $node
	new_ns $ns
	share_team share-r $ns share-r all-3g.40gb
	wait_for 30 share_field_is share-r unmanaged DRA
	assert_eq "$(share_field share-r phase)" Unmanaged "DRA node's phase"
	assert_contains "$(share_field share-r message)" DRA "DRA node's message"
	# Never labelled, cordoned or tainted, while the controller keeps passing.
	share_holds 5 share_untouched $node
	assert_eq "$(jp node/$node '{.metadata.annotations.gpuquota\.io/sharing-step}')" "" "no step annotation"

	# Without the ResourceSlice the node is the team's like any other.
	$KUBECTL delete resourceslice $node-gpu.nvidia.com --wait=true >/dev/null
	wait_for 60 share_settled $node all-3g.40gb
	wait_for 30 node_label_is $node gpuquota.io/pool share-r
	assert_eq "$(share_field share-r unmanaged)" "" "no longer unmanaged"

	$KUBECTL delete gta share-r --wait=true --timeout=60s >/dev/null
	$KUBECTL delete node $node --wait=true >/dev/null
}
