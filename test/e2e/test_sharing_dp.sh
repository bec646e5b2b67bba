# e2e: spec.sharing.devicePluginConfig -- the controller labels the team's
# pool nodes with nvidia.com/device-plugin.config (no drain), the fake device
# plugin (test/cluster/fake-mig-manager.sh) switches the node to the named
# time-slicing config (nvidia.com/gpu.replicas, capacity x replicas), and the
# ledger charges a pod asking nvidia.com/gpu there 1/replicas. Uses the
# helpers of test_sharing.sh (run.sh sources every test file first).

# node_alloc_gpu NODE: the node's allocatable nvidia.com/gpu.
node_alloc_gpu() { jp "node/$1" '{.status.allocatable.nvidia\.com/gpu}'; }

node_alloc_gpu_is() { [ "$(node_alloc_gpu "$1")" = "$2" ]; }

test_sharing_time_slicing_weight() {
	local ns=e2e-share-t node=share-t-0 testtol s f secs truth used diff
	testtol='[{key: gpuquota.io/test-pool, operator: Exists, effect: NoSchedule}]'
	controller_start
	share_node $node share-t
	new_ns $ns
	apply_team share-t "  namespaces: [$ns]
  quota: {gpus: 8}
  budget: {gpuHours: \"100\", period: Monthly, onExhausted: Deny}
  sharing:
    nodeSelector: {matchLabels: {gpuquota.io/test-pool: share-t}}
    devicePluginConfig: ts-4"
	wait_for 30 node_label_is $node nvidia.com/device-plugin.config ts-4
	# The device plugin switches to 4 time-slicing replicas per GPU.
	wait_for 30 node_label_is $node nvidia.com/gpu.replicas 4
	wait_for 30 node_alloc_gpu_is $node 32
	assert_eq "$(jp node/$node '{.status.capacity.nvidia\.com/gpu}')" 32 "capacity at 8 GPUs x 4 replicas"
	assert_eq "$(node_label $node nvidia.com/gpu.sharing-strategy)" time-slicing "sharing strategy"
	assert_eq "$(node_label $node nvidia.com/gpu.product)" NVIDIA-H100-80GB-HBM3-SHARED "product"
	assert_eq "$(node_label $node nvidia.com/gpu.count)" 8 "physical GPUs"
	wait_for 30 node_pool_taint_is $node share-t
	wait_for 30 share_field_is share-t phase Ready
	# No drain for a device plugin config, and the MIG layout is not touched.
	uncordoned $node || fail "node cordoned for a device plugin config"
	assert_eq "$(node_label $node nvidia.com/mig.config)" all-disabled "MIG layout"

	# A whole-GPU pod of the team names no node: pinned to the pool, where
	# it gets one of the 32 replicas.
	pin_pod $ns replica nvidia.com/gpu "$testtol" 20s >/dev/null || fail "pool team's pod not created"
	assert_eq "$(jp pod/replica '{.spec.nodeSelector.gpuquota\.io/pool}' $ns)" share-t "pool nodeSelector injected"
	wait_for 30 phase_is $ns replica Running
	assert_eq "$(jp pod/replica '{.spec.nodeName}' $ns)" $node "pod on the time-sliced node"

	# The weight: ground truth from the pod's own timestamps x 1/4.
	wait_for 60 phase_is $ns replica Succeeded
	s=$(jp pod/replica '{.status.startTime}' $ns)
	f=$(jp pod/replica '{.status.containerStatuses[0].state.terminated.finishedAt}' $ns)
	secs=$(($(date -d "$f" +%s) - $(date -d "$s" +%s)))
	truth=$((secs * 1000000 / 4))
	wait_for 30 sh -c "[ \"\$($KUBECTL get gta share-t -o jsonpath='{.status.usage.usedMicroGPUSeconds}')\" -ge $((truth - 1000000)) ]"
	sleep 3
	used=$(jp gta/share-t '{.status.usage.usedMicroGPUSeconds}')
	diff=$((used - truth))
	echo "    time-slicing weight: pod ran ${secs}s on ts-4; truth at 1/4 $truth uGPU-s, ledger $used uGPU-s"
	[ "${diff#-}" -le 1000000 ] || fail "ledger off by ${diff} micro GPU-seconds at weight 1/4"

	# Removing sharing removes the label; the plugin goes back to whole GPUs.
	$KUBECTL -n $ns delete pod --all --wait=true >/dev/null
	$KUBECTL patch gta share-t --type=json -p '[{"op":"remove","path":"/spec/sharing"}]' >/dev/null
	wait_for 30 node_label_is $node nvidia.com/device-plugin.config ""
	assert_not_contains "$(jp node/$node '{.metadata.labels}')" nvidia.com/device-plugin.config "device plugin label removed"
	wait_for 30 node_label_is $node nvidia.com/gpu.replicas 1
	wait_for 30 node_alloc_gpu_is $node 8
	assert_eq "$(jp node/$node '{.status.capacity.nvidia\.com/gpu}')" 8 "capacity back to 8 GPUs"
	assert_eq "$(node_label $node nvidia.com/gpu.sharing-strategy)" none "sharing strategy"
	assert_eq "$(node_label $node nvidia.com/gpu.product)" NVIDIA-H100-80GB-HBM3 "product"
	wait_for 30 node_pool_taint_is $node ""
	# What the pod was charged stays.
	share_holds 3 sh -c "[ \"\$($KUBECTL get gta share-t -o jsonpath='{.status.usage.usedMicroGPUSeconds}')\" = $used ]"

	$KUBECTL delete gta share-t --wait=true --timeout=60s >/dev/null
	$KUBECTL delete node $node --wait=true >/dev/null
}
