#!/usr/bin/env bash
# Stops exactly the processes cluster-up.sh started (by pid file, checking the
# process still runs what we launched; each leads its own process group, so
# its children stop with it) and removes the cluster state.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CLUSTER_DIR=${CLUSTER_DIR:-$ROOT/.cluster}
PIDS="$CLUSTER_DIR/pids"
COMPONENTS="kube-proxy kubelet containerd prometheus gpuquota-controller fake-mig-manager kwok kube-scheduler kube-controller-manager kube-apiserver etcd"

# shellcheck source=test/cluster/proc.sh
. "$ROOT/test/cluster/proc.sh"

# The real node first (its kubelet, containers, mounts, cgroups, network
# namespace), while the apiserver still runs.
if [ -f "$CLUSTER_DIR/node.env" ]; then
	CLUSTER_DIR="$CLUSTER_DIR" "$ROOT/test/cluster/node.sh" down
fi

# shellcheck disable=SC2086 # COMPONENTS is a word list
stop $COMPONENTS
rm -rf "$CLUSTER_DIR"
echo "cluster-down: stopped $STOPPED processes and removed $CLUSTER_DIR" >&2
