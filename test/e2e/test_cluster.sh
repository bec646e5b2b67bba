# e2e: the test bed itself -- simulated GPU nodes, scheduling, quota,
# preemption, run-for completion and the fake mig-manager, all decided by the
# real control plane.

test_cluster_nodes_report_gpu_capacity() {
	local n
	n=$($KUBECTL get nodes -l gpuquota.io/test-pool=whole-gpu --no-headers | wc -l)
	assert_eq "$n" 4 "whole-GPU nodes"
	assert_eq "$(jp node/gpu-node-0 '{.status.allocatable.nvidia\.com/gpu}')" 8 "gpu-node-0 GPUs"
	assert_eq "$(jp node/gpu-node-0 '{.metadata.labels.nvidia\.com/gpu\.product}')" \
		NVIDIA-H100-80GB-HBM3 "GFD product label"
	assert_eq "$(jp node/mig-node-0 '{.status.allocatable.nvidia\.com/mig-3g\.40gb}')" 8 \
		"mig-node-0 3g.40gb slices"
	assert_eq "$(jp node/mig-node-0 '{.metadata.labels.nvidia\.com/mig\.strategy}')" mixed \
		"MIG strategy label"
	assert_eq "$(jp node/ts-node-0 '{.metadata.labels.nvidia\.com/gpu\.replicas}')" 4 \
		"time-slicing replicas"
	assert_eq "$(jp node/ts-node-0 '{.status.allocatable.nvidia\.com/gpu}')" 16 \
		"time-sliced GPU capacity"
	assert_eq "$(jp node/cpu-node-0 '{.status.allocatable.nvidia\.com/gpu}')" "" \
		"CPU node has no GPU"
	assert_eq "$($KUBECTL get nodes --no-headers | grep -vc ' Ready ')" 0 "NotReady nodes"
}

test_cluster_gpu_pod_runs_and_huge_pod_pends() {
	local ns=e2e-sched node
	new_ns $ns
	gpu_pod_yaml $ns two 2 | $KUBECTL apply -f - >/dev/null
	gpu_pod_yaml $ns huge 100 | $KUBECTL apply -f - >/dev/null
	wait_for 30 phase_is $ns two Running
	node=$(jp pod/two '{.spec.nodeName}' $ns)
	case $node in gpu-node-* | ts-node-*) ;; *) fail "2-GPU pod on non-GPU node '$node'" ;; esac
	[ -n "$(jp pod/two '{.status.startTime}' $ns)" ] || fail "no status.startTime"
	[ -n "$(jp pod/two '{.status.containerStatuses[0].state.running.startedAt}' $ns)" ] ||
		fail "no container startedAt"
	wait_for 30 sh -c "$KUBECTL -n $ns get events --field-selector involvedObject.name=huge,reason=FailedScheduling --no-headers | grep -q ."
	assert_eq "$(pod_phase $ns huge)" Pending "100-GPU pod phase"
	assert_contains "$($KUBECTL -n $ns get events --field-selector involvedObject.name=huge -o jsonpath='{.items[*].message}')" \
		"Insufficient nvidia.com/gpu" "FailedScheduling message"
	$KUBECTL -n $ns delete pod two huge --wait=true >/dev/null
}

test_cluster_resourcequota_rejects_over_quota_gpu_pod() {
	local ns=e2e-quota out
	new_ns $ns
	$KUBECTL -n $ns create quota gpu --hard=requests.nvidia.com/gpu=2 >/dev/null
	# A quota is enforced once the quota controller has synced status.hard.
	wait_for 30 sh -c "[ \"\$($KUBECTL -n $ns get quota gpu -o jsonpath='{.status.hard.requests\.nvidia\.com/gpu}')\" = 2 ]"
	out=$(gpu_pod_yaml $ns three 3 | $KUBECTL apply -f - 2>&1) && fail "3-GPU pod admitted: $out"
	assert_contains "$out" "exceeded quota: gpu" "quota denial"
	assert_contains "$out" "requested: requests.nvidia.com/gpu=3" "quota denial detail"
	gpu_pod_yaml $ns two 2 | $KUBECTL apply -f - >/dev/null
	wait_for 30 sh -c "[ \"\$($KUBECTL -n $ns get quota gpu -o jsonpath='{.status.used.requests\.nvidia\.com/gpu}')\" = 2 ]"
	$KUBECTL -n $ns delete pod two --wait=true >/dev/null
}

test_cluster_high_priority_pod_preempts_job() {
	local ns=e2e-preempt old new
	new_ns $ns
	$KUBECTL apply -f - >/dev/null <<Y
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: e2e-low}
value: 100
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: e2e-high}
value: 100000
Y
	$KUBECTL apply -f - >/dev/null <<Y
apiVersion: batch/v1
kind: Job
metadata: {name: filler, namespace: $ns}
spec:
  backoffLimit: 10
  template:
    spec:
      priorityClassName: e2e-low
      restartPolicy: Never
      nodeSelector: {kubernetes.io/hostname: gpu-node-3}
      containers:
      - name: main
        image: registry.example/train:1
        resources: {limits: {nvidia.com/gpu: "8"}}
Y
	wait_for 30 sh -c "$KUBECTL -n $ns get pods -l job-name=filler --field-selector status.phase=Running --no-headers | grep -q ."
	old=$($KUBECTL -n $ns get pods -l job-name=filler -o jsonpath='{.items[0].metadata.name}')
	$KUBECTL apply -f - >/dev/null <<Y
apiVersion: v1
kind: Pod
metadata: {name: urgent, namespace: $ns}
spec:
  priorityClassName: e2e-high
  nodeSelector: {kubernetes.io/hostname: gpu-node-3}
  containers:
  - name: main
    image: registry.example/serve:1
    resources: {limits: {nvidia.com/gpu: "8"}}
Y
	wait_for 60 phase_is $ns urgent Running
	# The Job controller recreates the preempted pod, which now waits.
	wait_for 60 sh -c "$KUBECTL -n $ns get pods -l job-name=filler -o name | grep -v 'pod/$old\$' | grep -q ."
	new=$($KUBECTL -n $ns get pods -l job-name=filler -o name | grep -v "pod/$old\$" | head -1)
	wait_for 30 sh -c "$KUBECTL -n $ns get events --field-selector involvedObject.name=${new#pod/},reason=FailedScheduling --no-headers | grep -q ."
	assert_eq "$($KUBECTL -n $ns get "$new" -o jsonpath='{.status.phase}')" Pending "recreated Job pod"
	assert_contains "$($KUBECTL -n $ns get events -o jsonpath='{.items[*].reason}')" Preempted \
		"Preempted event"
	$KUBECTL -n $ns delete job filler --wait=true >/dev/null
	$KUBECTL -n $ns delete pod urgent --wait=true >/dev/null
	$KUBECTL delete priorityclass e2e-low e2e-high >/dev/null
}

# seconds between two RFC 3339 timestamps
rfc3339_delta() { echo $(($(date -d "$2" +%s) - $(date -d "$1" +%s))); }

test_cluster_run_for_pod_and_job_succeed() {
	local ns=e2e-runfor started finished d
	new_ns $ns
	gpu_pod_yaml $ns short 1 5s | $KUBECTL apply -f - >/dev/null
	$KUBECTL apply -f - >/dev/null <<Y
apiVersion: batch/v1
kind: Job
metadata: {name: shortjob, namespace: $ns}
spec:
  template:
    metadata:
      annotations: {test.gpuquota.io/run-for: "3s"}
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: registry.example/train:1
        resources: {limits: {nvidia.com/gpu: "1"}}
Y
	wait_for 30 phase_is $ns short Running
	assert_eq "$(pod_phase $ns short)" Running "before run-for elapses"
	wait_for 30 phase_is $ns short Succeeded
	started=$(jp pod/short '{.status.containerStatuses[0].state.terminated.startedAt}' $ns)
	finished=$(jp pod/short '{.status.containerStatuses[0].state.terminated.finishedAt}' $ns)
	[ -n "$finished" ] || fail "no container finishedAt"
	assert_eq "$started" "$(jp pod/short '{.status.startTime}' $ns)" "terminated.startedAt keeps the start"
	d=$(rfc3339_delta "$started" "$finished")
	[ "$d" -ge 5 ] && [ "$d" -le 8 ] || fail "ran ${d}s, want 5s (+ up to 3s)"
	wait_for 40 sh -c "[ \"\$($KUBECTL -n $ns get job shortjob -o jsonpath='{.status.succeeded}')\" = 1 ]"
}

test_cluster_fake_mig_manager_reconfigures_node() {
	local node=mig-node-1
	$KUBECTL label node $node --overwrite nvidia.com/mig.config=all-3g.40gb >/dev/null
	wait_for 10 sh -c "[ \"\$($KUBECTL get node $node -o jsonpath='{.metadata.labels.nvidia\.com/mig\.config\.state}')\" = pending ]"
	wait_for 30 sh -c "[ \"\$($KUBECTL get node $node -o jsonpath='{.metadata.labels.nvidia\.com/mig\.config\.state}')\" = success ]"
	assert_eq "$(jp node/$node '{.status.allocatable.nvidia\.com/mig-3g\.40gb}')" 16 "3g.40gb slices"
	assert_eq "$(jp node/$node '{.status.allocatable.nvidia\.com/mig-1g\.10gb}')" "" "old 1g.10gb slices gone"
	assert_eq "$(jp node/$node '{.metadata.labels.nvidia\.com/mig-3g\.40gb\.count}')" 16 "GFD count label"

	$KUBECTL label node $node --overwrite nvidia.com/mig.config=no-such-layout >/dev/null
	wait_for 30 sh -c "[ \"\$($KUBECTL get node $node -o jsonpath='{.metadata.labels.nvidia\.com/mig\.config\.state}')\" = failed ]"
	assert_eq "$(jp node/$node '{.status.allocatable.nvidia\.com/mig-3g\.40gb}')" 16 \
		"capacity unchanged after a failed reconfiguration"

	$KUBECTL label node $node --overwrite nvidia.com/mig.config=all-1g.10gb >/dev/null
	wait_for 30 sh -c "[ \"\$($KUBECTL get node $node -o jsonpath='{.metadata.labels.nvidia\.com/mig\.config\.state}')\" = success ]"
	assert_eq "$(jp node/$node '{.status.allocatable.nvidia\.com/mig-1g\.10gb}')" 56 "restored layout"
}
