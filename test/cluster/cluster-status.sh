#!/usr/bin/env bash
# Shows which local-cluster processes run and the nodes with their GPU resources.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CLUSTER_DIR=${CLUSTER_DIR:-$ROOT/.cluster}
if [ ! -d "$CLUSTER_DIR/pids" ]; then
	echo "cluster: not running (make cluster-up)"
	exit 1
fi
rc=0
for f in "$CLUSTER_DIR"/pids/*.pid; do
	name=$(basename "$f" .pid)
	pid=$(cat "$f")
	if kill -0 "$pid" 2>/dev/null; then
		printf '  %-26s running  pid %s\n' "$name" "$pid"
	else
		printf '  %-26s STOPPED  (log: %s)\n' "$name" "$CLUSTER_DIR/logs/$name.log"
		rc=1
	fi
done
K="$CLUSTER_DIR/bin/kubectl --kubeconfig $CLUSTER_DIR/kubeconfig"
echo "kubeconfig: $CLUSTER_DIR/kubeconfig"
$K version 2>/dev/null | grep Server || { echo "apiserver: not answering"; exit 1; }
$K get nodes -L gpuquota.io/test-pool,nvidia.com/mig.config,nvidia.com/mig.config.state \
	-o custom-columns='NAME:.metadata.name,STATUS:.status.conditions[?(@.type=="Ready")].status,POOL:.metadata.labels.gpuquota\.io/test-pool,GPU:.status.allocatable.nvidia\.com/gpu,MIG-1G:.status.allocatable.nvidia\.com/mig-1g\.10gb,MIG-2G:.status.allocatable.nvidia\.com/mig-2g\.20gb,MIG-3G:.status.allocatable.nvidia\.com/mig-3g\.40gb,MIG-CONFIG:.metadata.labels.nvidia\.com/mig\.config,STATE:.metadata.labels.nvidia\.com/mig\.config\.state'
if [ -n "$($K get nodes -l gpuquota.io/real-node=true --no-headers 2>/dev/null)" ]; then
	echo "real node (tolerate gpuquota.io/real-node=true:NoSchedule to run there):"
	$K get nodes -l gpuquota.io/real-node=true -o wide
fi
exit $rc
