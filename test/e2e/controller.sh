# Helpers to run the controller out of cluster for the e2e tests, with the
# token of the ServiceAccount bound to the shipped ClusterRole (not admin),
# so the least-privilege RBAC is exercised. Sourced by run.sh.

# The cluster (CLUSTER_DIR) and ports (test/cluster/ports.sh) are those of
# the caller: .cluster/ for make demo, .cluster-test/ for make test.
CLUSTER_DIR=${CLUSTER_DIR:-$ROOT/.cluster}
. "$ROOT/test/cluster/ports.sh"
CTL_METRICS=127.0.0.1:$CTL_METRICS_PORT
CTL_HEALTH=127.0.0.1:$CTL_HEALTH_PORT
CTL_PIDFILE="$CLUSTER_DIR/pids/gpuquota-controller.pid"
CTL_LOG="$CLUSTER_DIR/logs/gpuquota-controller.log"
CTL_KUBECONFIG="$CLUSTER_DIR/controller.kubeconfig"
CTL_WEBHOOK_PORT=$WEBHOOK_PORT
# The binary under test (another build can be compared against the same tests).
CTL_BIN=${CTL_BIN:-$ROOT/bin/gpuquota-controller}

# policy_enforced: the admission policies are in force (the apiserver loads
# them asynchronously): a namespace label the controller may not set is
# refused by the policy (a server-side dry run).
policy_enforced() {
	local out
	out=$($KUBECTL --as system:serviceaccount:gpuquota-system:gpuquota-controller label namespace default \
		--dry-run=server gpuquota.io/policy-probe=x 2>&1)
	[[ "$out" == *"gpuquota's controller may change only"* ]]
}

# Installs the CRD, namespace, RBAC and admission policies (not the Deployment), waits until
# the policies are in force, and writes a kubeconfig holding the controller ServiceAccount's token.
controller_install() {
	$KUBECTL apply --server-side -f "$ROOT/crds/gpuquota.io_gputeamallocations.yaml" >/dev/null
	$KUBECTL wait --for condition=established --timeout=30s crd/gputeamallocations.gpuquota.io >/dev/null
	$KUBECTL apply --server-side -f "$ROOT/manifests/namespace.yaml" -f "$ROOT/manifests/rbac.yaml" \
		-f "$ROOT/manifests/policy.yaml" >/dev/null
	wait_for 30 policy_enforced
	"$ROOT/test/cluster/webhook-local.sh" "$KUBECTL" "$CTL_WEBHOOK_PORT"
	[ -f "$CTL_KUBECONFIG" ] && return 0
	local token ca server
	token=$($KUBECTL -n gpuquota-system create token gpuquota-controller --duration 24h)
	ca=$($KUBECTL config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
	server=$($KUBECTL config view --raw -o jsonpath='{.clusters[0].cluster.server}')
	cat >"$CTL_KUBECONFIG" <<KC
apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: "$server", certificate-authority-data: "$ca"}
users:
- name: gpuquota-controller
  user: {token: "$token"}
contexts:
- name: test
  context: {cluster: test, user: gpuquota-controller}
current-context: test
KC
	chmod 600 "$CTL_KUBECONFIG"
}

controller_running() {
	[ -f "$CTL_PIDFILE" ] && kill -0 "$(cat "$CTL_PIDFILE")" 2>/dev/null
}

# controller_start [extra args]: starts it in the background (own process
# group, pid file read by cluster-down) and waits for /readyz.
controller_start() {
	controller_running && return 0
	controller_install
	# Leader election on (one replica, a fixed identity: a restart renews its
	# own lease at once), so that every test exercises the gated writes.
	POD_NAME=${CTL_POD_NAME:-gpuquota-controller-0} setsid "$CTL_BIN" run \
		--kubeconfig "$CTL_KUBECONFIG" ${CTL_LEADER_ELECT---leader-elect} \
		--metrics-bind-address "$CTL_METRICS" --health-probe-bind-address "$CTL_HEALTH" \
		--resync-period "${CTL_RESYNC:-15s}" --log-level "${CTL_LOG_LEVEL:-info}" \
		--webhook-bind-address "127.0.0.1:$CTL_WEBHOOK_PORT" --webhook-hosts 127.0.0.1 \
		--ledger-interval "${CTL_LEDGER:-1s}" --shutdown-grace 1s "$@" \
		>>"$CTL_LOG" 2>&1 </dev/null &
	echo $! >"$CTL_PIDFILE"
	disown $! 2>/dev/null || true
	wait_for 30 curl -sf "http://$CTL_HEALTH/readyz"
}

controller_stop() {
	local pid
	controller_running || return 0
	pid=$(cat "$CTL_PIDFILE")
	kill -TERM "$pid"
	wait_for 20 sh -c "! kill -0 $pid 2>/dev/null"
	rm -f "$CTL_PIDFILE"
}

# metric NAME: the value of an unlabelled metric from /metrics.
metric() {
	curl -sf "http://$CTL_METRICS/metrics" | awk -v m="$1" '$1 == m {print $2}'
}

# gta_cond TEAM TYPE: status of a condition.
gta_cond() {
	jp "gta/$1" "{.status.conditions[?(@.type==\"$2\")].status}"
}

cond_is() { [ "$(gta_cond "$1" "$2")" = "$3" ]; }

# rq_hard NS NAME RESOURCE
rq_hard() {
	$KUBECTL -n "$1" get resourcequota "$2" -o jsonpath="{.spec.hard.${3//./\\.}}" 2>/dev/null
}

rq_hard_is() { [ "$(rq_hard "$1" "$2" "$3")" = "$4" ]; }

# quota_synced NS NAME: the quota controller has synced status.hard == spec.hard.
quota_synced() {
	local s h
	s=$($KUBECTL -n "$1" get resourcequota "$2" -o jsonpath='{.spec.hard}' 2>/dev/null)
	h=$($KUBECTL -n "$1" get resourcequota "$2" -o jsonpath='{.status.hard}' 2>/dev/null)
	[ -n "$s" ] && [ "$s" = "$h" ]
}

# tier_pod NS NAME GPUS CLASS: a GPU pod in a priority class.
tier_pod() {
	gpu_pod_yaml "$1" "$2" "$3" "" "$4"
}
