#!/usr/bin/env bash
# e2e runner: starts the local cluster when needed, runs every test_* function
# of test/e2e/test_*.sh (or those matching E2E_FILTER), prints one line per
# test and a closing "N passed, N failed" line, and stops the cluster it
# started unless KEEP_CLUSTER=1.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
export ROOT
export CLUSTER_DIR=${CLUSTER_DIR:-$ROOT/.cluster-test}
export GQ_PORT_OFFSET=${GQ_PORT_OFFSET:-100}
export KUBECONFIG_FILE="$CLUSTER_DIR/kubeconfig"
export KUBECTL="$CLUSTER_DIR/bin/kubectl --kubeconfig $KUBECONFIG_FILE"
E2E_FILTER=${E2E_FILTER:-}
# Namespaces created by tests (new_ns) are recorded here and deleted at the end.
export E2E_NS_FILE E2E_GTA_FILE
E2E_NS_FILE=$(mktemp)
E2E_GTA_FILE=$(mktemp)

started=0
if ! [ -f "$KUBECONFIG_FILE" ] || ! $KUBECTL get --raw /readyz >/dev/null 2>&1; then
	t0=$(date +%s)
	test/cluster/cluster-up.sh || exit 1
	echo "e2e: cluster started in $(($(date +%s) - t0))s"
	started=1
fi

cleanup() {
	if [ -s "$E2E_GTA_FILE" ]; then
		sort -u "$E2E_GTA_FILE" | xargs $KUBECTL delete gta --ignore-not-found --wait=false >/dev/null 2>&1
	fi
	rm -f "$E2E_GTA_FILE"
	if [ -s "$E2E_NS_FILE" ]; then
		sort -u "$E2E_NS_FILE" | xargs $KUBECTL delete namespace --wait=false >/dev/null 2>&1
	fi
	rm -f "$E2E_NS_FILE"
	if [ "$started" = 1 ] && [ "${KEEP_CLUSTER:-0}" != 1 ]; then
		test/cluster/cluster-down.sh
	fi
}
trap cleanup EXIT

. test/e2e/lib.sh
. test/e2e/controller.sh
for f in test/e2e/test_*.sh; do
	. "$f"
done

# diagnose TEST: what a failed test leaves behind, bounded, so that a failure
# in CI can be understood from its output alone: the test namespaces' pods
# (phase, node, priority, gates, finalizers), their warning events and the
# controller's last log lines.
diagnose() {
	local nss
	nss=$(sort -u "$E2E_NS_FILE" | tr '\n' ' ')
	echo "    --- state after $1 ---"
	for n in $nss; do
		$KUBECTL -n "$n" get pods -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name} {.status.phase} node={.spec.nodeName} nominated={.status.nominatedNodeName} prio={.spec.priorityClassName} gates={.spec.schedulingGates[*].name} fin={.metadata.finalizers} del={.metadata.deletionTimestamp}{"\n"}{end}' 2>/dev/null
	done | head -n 40 | sed 's/^/    pod /'
	for n in $nss; do
		$KUBECTL -n "$n" get events --field-selector type=Warning --no-headers \
			-o custom-columns=AT:.lastTimestamp,OBJ:.involvedObject.name,REASON:.reason,MSG:.message 2>/dev/null
	done | tail -n 20 | cut -c1-300 | sed 's/^/    event /'
	$KUBECTL get pods -A --field-selector status.phase!=Succeeded,status.phase!=Failed --no-headers \
		-o custom-columns=NS:.metadata.namespace,POD:.metadata.name,NODE:.spec.nodeName,PHASE:.status.phase 2>/dev/null |
		grep -v '^kube-system' | head -n 30 | sed 's/^/    live /'
	[ -f "$CLUSTER_DIR/logs/gpuquota-controller.log" ] &&
		tail -n 15 "$CLUSTER_DIR/logs/gpuquota-controller.log" | cut -c1-300 | sed 's/^/    controller /'
	echo "    ---"
}

passed=0 failed=0 failed_names=()
for t in $(declare -F | awk '{print $3}' | grep '^test_' ); do
	[ -n "$E2E_FILTER" ] && [[ "$t" != *$E2E_FILTER* ]] && continue
	t0=$(date +%s.%N)
	# A subshell outside any conditional, so that set -e applies inside.
	(
		set -e
		"$t"
	)
	rc=$?
	secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}')
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1))
		printf 'ok    %-58s %6ss\n' "$t" "$secs"
	else
		failed=$((failed + 1))
		failed_names+=("$t")
		printf 'FAIL  %-58s %6ss\n' "$t" "$secs"
		diagnose "$t"
	fi
done
echo
[ $failed -gt 0 ] && echo "failed: ${failed_names[*]}"
echo "e2e: $passed passed, $failed failed"
[ $failed -eq 0 ]
