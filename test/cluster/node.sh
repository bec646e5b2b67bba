#!/usr/bin/env bash
# The bed's real node: a kubelet and kube-proxy of the pinned Kubernetes, with
# containerd, runc and the standard CNI plugins from Debian's packages, so that
# pods on it run real containers. Everything of it is this cluster's own and
# stays on this machine:
#   - a network namespace $NODE_NETNS with a veth to the host
#     ($NODE_HOST_IP on the host, $NODE_IP in the namespace); the kubelet,
#     kube-proxy (its iptables rules) and containerd (so the CNI bridge and
#     the pods' veths) live in it; the pod range $NODE_POD_CIDR and the
#     Service range $SERVICE_CIDR are routed from the host into it, so the
#     apiserver reaches pods and Services;
#   - containerd with its root, state, socket and runc root under
#     $CLUSTER_DIR/node, pod network namespaces under its state;
#   - the kubelet with its root dir there and cgroup root /$NODE_NETNS.
# cluster-up.sh calls net-up before the apiserver starts (it listens on
# $NODE_HOST_IP), then start, then wait; cluster-down.sh calls down.
#
# Usage: node.sh net-up|start|wait|down   (env: CLUSTER_DIR, GQ_PORT_OFFSET)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/test/cluster"
CLUSTER_DIR=${CLUSTER_DIR:-$ROOT/.cluster}
# The offset and network id the node was set up with (net-up writes them), so
# that down removes this cluster's node whatever the caller's environment.
ENV_FILE="$CLUSTER_DIR/node.env"
if [ "${1-}" != net-up ] && [ -f "$ENV_FILE" ]; then
	. "$ENV_FILE"
fi
. "$HERE/ports.sh"

NODE="$CLUSTER_DIR/node"
PIDS="$CLUSTER_DIR/pids"
LOGS="$CLUSTER_DIR/logs"
PKI="$CLUSTER_DIR/pki"
SOCK="$NODE/run/containerd.sock"
NETNS_PATH=/run/netns/$NODE_NETNS
CGROUP_ROOT=${NODE_CGROUP_ROOT:-/$NODE_NETNS}
CNI_BIN=${CNI_BIN:-/usr/lib/cni}


log() { printf 'node: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
in_ns() { nsenter --net="$NETNS_PATH" "$@"; }

# The cgroup v1 hierarchies mounted here (and the v2 one of a hybrid layout).
hierarchies() {
	awk '$3 == "cgroup" || $3 == "cgroup2" {print $2}' /proc/self/mounts | grep '^/sys/fs/cgroup/'
}

net_up() {
	[ "$(id -u)" = 0 ] || die "the real node needs root (network namespace, cgroups, containerd); GQ_REAL_NODE=0 leaves it out"
	if grep -qw "^$NODE_NETNS" <<<"$(ip netns list)"; then
		log "network namespace $NODE_NETNS exists: removing it first"
		ip netns del "$NODE_NETNS"
	fi
	if grep -qE "^($NODE_POD_CIDR|$SERVICE_CIDR) " <<<"$(ip route show)"; then
		die "$NODE_POD_CIDR or $SERVICE_CIDR is already routed on this host (another cluster with GQ_NET_ID=$GQ_NET_ID?)"
	fi
	mkdir -p "$CLUSTER_DIR"
	printf 'GQ_PORT_OFFSET=%s\nGQ_NET_ID=%s\nNODE_NAME=%s\n' "$GQ_PORT_OFFSET" "$GQ_NET_ID" "$NODE_NAME" >"$ENV_FILE"
	ip netns add "$NODE_NETNS"
	ip link add "$NODE_VETH" type veth peer name "gqn$GQ_PORT_OFFSET"
	ip link set "gqn$GQ_PORT_OFFSET" netns "$NODE_NETNS"
	ip addr add "$NODE_HOST_IP/30" dev "$NODE_VETH"
	ip link set "$NODE_VETH" up
	ip -n "$NODE_NETNS" link set lo up
	ip -n "$NODE_NETNS" link set "gqn$GQ_PORT_OFFSET" name eth0
	ip -n "$NODE_NETNS" addr add "$NODE_IP/30" dev eth0
	ip -n "$NODE_NETNS" link set eth0 up
	ip -n "$NODE_NETNS" route add default via "$NODE_HOST_IP"
	ip route add "$NODE_POD_CIDR" via "$NODE_IP" dev "$NODE_VETH"
	ip route add "$SERVICE_CIDR" via "$NODE_IP" dev "$NODE_VETH"
	# Per-namespace settings a node needs: forwarding between the veth and the
	# pod bridge, bridged traffic through iptables (Services between pods).
	[ -e /proc/sys/net/bridge ] || modprobe br_netfilter 2>/dev/null || true
	in_ns sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 \
		net.ipv4.conf.all.route_localnet=1
}

write_configs() {
	mkdir -p "$NODE/cni/net.d" "$NODE/run" "$NODE/kubelet" "$NODE/pod-logs"
	cat >"$NODE/containerd.toml" <<EOF
version = 2
root = "$NODE/containerd"
state = "$NODE/run/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$NODE/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_REF"
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  # No CAP_SYS_RESOURCE here (a sandboxed root): oom_score_adj may not go
  # below containerd's own, so the kubelet's -998 for sandboxes is clamped.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$NODE/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        Root = "$NODE/run/runc"
        SystemdCgroup = false
EOF
	cat >"$NODE/cni/net.d/10-gpuquota.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$NODE_NETNS",
  "plugins": [
    {
      "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$NODE/cni/ipam",
        "ranges": [[{"subnet": "$NODE_POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
EOF
	cat >"$NODE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This host's cgroups are v1: the kubelet refuses them unless told not to.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: $CGROUP_ROOT
containerRuntimeEndpoint: unix://$SOCK
address: 0.0.0.0
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization:
  mode: Webhook
registerWithTaints:
  - {key: $NODE_TAINT_KEY, value: "true", effect: NoSchedule}
podLogsDir: $NODE/pod-logs
volumePluginDir: $NODE/kubelet/volume-plugins
failSwapOn: false
# A shared build machine: no eviction for its disk, and no image garbage
# collection (the images are imported, there is no registry to pull again).
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
maxPods: 50
EOF
	cat >"$NODE/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $PKI/kube-proxy.kubeconfig}
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $NODE_POD_CIDR
metricsBindAddress: 127.0.0.1:$KUBE_PROXY_METRICS_PORT
healthzBindAddress: 127.0.0.1:$KUBE_PROXY_HEALTHZ_PORT
# Conntrack limits are the host's (not settable from a namespace): kept.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
}

# shellcheck source=test/cluster/proc.sh
. "$HERE/proc.sh"

# The cgroup root in every hierarchy, cpuset with its parent's cpus and mems
# (a new v1 cpuset is empty); the kubelet wants it to exist.
cgroups_up() {
	local h
	for h in $(hierarchies); do
		mkdir -p "$h$CGROUP_ROOT"
		if [ -f "$h/cpuset.cpus" ]; then
			cat "$h/cpuset.cpus" >"$h$CGROUP_ROOT/cpuset.cpus"
			cat "$h/cpuset.mems" >"$h$CGROUP_ROOT/cpuset.mems"
		fi
	done
}

start() {
	local images
	BIN=${BIN:-$("$HERE/build-binaries.sh")}
	KUBE_VERSION=$("$BIN/kubelet" --version | awk '{print $2}' | sed 's/^v//')
	images=$("$HERE/node-images.sh" "$KUBE_VERSION")
	PAUSE_REF=$(echo "$images" | awk 'NR == 1 {print $1}')
	write_configs
	# For tests and users: which references the imported images have.
	echo "$images" | awk '{split($1, r, ":"); n = r[1]; sub(/^localhost\/gpuquota-/, "", n); print n, $1}' >"$NODE/images"
	cgroups_up
	launch containerd nsenter --net="$NETNS_PATH" containerd --config "$NODE/containerd.toml"
	wait_for containerd 30 ctr --address "$SOCK" version
	# The images, imported (no registry): the sandbox's, the test pods', and
	# the controller's when `make image` built it.
	local ref tar archives
	archives=$(echo "$images" | awk '{print $2}')
	if [ -n "${CONTROLLER_IMAGE_ARCHIVE:-}" ] && [ -f "$CONTROLLER_IMAGE_ARCHIVE" ]; then
		archives="$archives $CONTROLLER_IMAGE_ARCHIVE"
	fi
	for tar in $archives; do
		ctr --address "$SOCK" -n k8s.io images import "$tar" >>"$LOGS/node-images.log" 2>&1 ||
			die "importing $tar failed (see $LOGS/node-images.log)"
	done
	launch kubelet nsenter --net="$NETNS_PATH" "$BIN/kubelet" --config "$NODE/kubelet.yaml" \
		--kubeconfig "$PKI/kubelet.kubeconfig" --root-dir "$NODE/kubelet" \
		--hostname-override "$NODE_NAME" --node-ip "$NODE_IP" \
		--node-labels "gpuquota.io/real-node=true" --v 1
	launch kube-proxy nsenter --net="$NETNS_PATH" "$BIN/kube-proxy" --config "$NODE/kube-proxy.yaml" --v 1
}

node_ready() {
	[ "$("$BIN"/kubectl --kubeconfig "$CLUSTER_DIR/kubeconfig" get node "$NODE_NAME" \
		-o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]
}

wait_ready() {
	BIN=${BIN:-$("$HERE/build-binaries.sh")}
	wait_for "real node $NODE_NAME" 90 node_ready
	wait_for kube-proxy 60 in_ns curl -sf "http://127.0.0.1:$KUBE_PROXY_HEALTHZ_PORT/healthz"
}

# The processes left in the node's cgroups (the containers).
cgroup_procs() {
	local h
	for h in $(hierarchies); do
		[ -d "$h$CGROUP_ROOT" ] && find "$h$CGROUP_ROOT" -name cgroup.procs -exec cat {} + 2>/dev/null
	done | sort -u
}

down() {
	# Best effort throughout: whatever is left of a broken start goes too.
	set +e +o pipefail
	local i p m sandboxes=""
	[ -d "$NODE/run/state/io.containerd.grpc.v1.cri/sandboxes" ] &&
		sandboxes=$(ls "$NODE/run/state/io.containerd.grpc.v1.cri/sandboxes")
	stop kubelet kube-proxy
	# The containers: killed through their cgroups (frozen first, so none
	# forks meanwhile), then the shims of this containerd, then containerd.
	for ((i = 0; i < 50; i++)); do
		p=$(cgroup_procs)
		[ -z "$p" ] && break
		kill -KILL $p 2>/dev/null || true
		sleep 0.1
	done
	for p in $(pgrep -f containerd-shim-runc-v2 || true); do
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "-address $SOCK " && kill -KILL "$p" 2>/dev/null
	done
	stop containerd
	# Mounts under the node's directory (container root filesystems, sandbox
	# shm, pod network namespaces, kubelet volumes and its rshared bind
	# mount), innermost first.
	if [ -d "$NODE" ]; then
		for m in $(awk -v d="$NODE" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
		done
	fi
	for p in $(hierarchies); do
		[ -d "$p$CGROUP_ROOT" ] && find "$p$CGROUP_ROOT" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	# The veth pair and the routes through it, then the namespace.
	ip link del "$NODE_VETH" 2>/dev/null || true
	if grep -qw "^$NODE_NETNS" <<<"$(ip netns list 2>/dev/null)"; then
		ip netns del "$NODE_NETNS"
	fi
	# What the CNI library and the kubelet keep outside the node's directory.
	for p in $sandboxes; do rm -f "/var/lib/cni/results/cni-loopback-$p-lo"; done
	rm -f /var/lib/cni/results/"$NODE_NETNS"-* 2>/dev/null
	for p in /var/log/containers/*.log; do
		[ -L "$p" ] && case "$(readlink "$p")" in "$NODE"/*) rm -f "$p" ;; esac
	done
	return 0
}

case "${1-}" in
net-up) net_up ;;
start) start ;;
wait) wait_ready ;;
down) down ;;
*) die "usage: node.sh net-up|start|wait|down" ;;
esac
