#!/usr/bin/env bash
# Starts the local test control plane on loopback: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler and kwok (simulated GPU nodes), plus
# the fake NVIDIA mig-manager and device plugin, Prometheus scraping the controller's metrics
# (test/cluster/prometheus.sh) and a real node (kubelet, kube-proxy,
# containerd: test/cluster/node.sh; GQ_REAL_NODE=0 leaves it out). Idempotent: a healthy running cluster is left
# alone. State lives in $CLUSTER_DIR (default .cluster/, git-ignored).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/test/cluster"
CLUSTER_DIR=${CLUSTER_DIR:-$ROOT/.cluster}
. "$HERE/ports.sh"

log() { printf 'cluster-up: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

BIN=$("$HERE/build-binaries.sh")
KUBECONFIG_OUT="$CLUSTER_DIR/kubeconfig"
PKI="$CLUSTER_DIR/pki"
PIDS="$CLUSTER_DIR/pids"
LOGS="$CLUSTER_DIR/logs"
KUBECTL="$BIN/kubectl --kubeconfig $KUBECONFIG_OUT"

# With the real node the apiserver listens on the host end of the node's veth
# (the kubelet, kube-proxy and pods reach it there; it is the kubernetes
# Service's endpoint); without it on loopback only.
if [ "$GQ_REAL_NODE" = 1 ]; then
	APISERVER_ADDR=$NODE_HOST_IP
	NODE_COMPONENTS="containerd kubelet kube-proxy"
else
	APISERVER_ADDR=127.0.0.1
	NODE_COMPONENTS=""
fi
export BIN

alive() { [ -f "$PIDS/$1.pid" ] && kill -0 "$(cat "$PIDS/$1.pid")" 2>/dev/null; }
node_alive() {
	local c
	for c in $NODE_COMPONENTS; do alive "$c" || return 1; done
}

if [ -f "$KUBECONFIG_OUT" ] && alive etcd && alive kube-apiserver &&
	alive kube-controller-manager && alive kube-scheduler && alive kwok &&
	alive fake-mig-manager && alive prometheus &&
	node_alive &&
	grep -q "server: https://$APISERVER_ADDR:" "$KUBECONFIG_OUT" && $KUBECTL get --raw /readyz >/dev/null 2>&1; then
	log "cluster already running ($KUBECONFIG_OUT)"
	exit 0
fi
if [ -d "$PIDS" ]; then
	log "partial or stale cluster state found: stopping it first"
	"$HERE/cluster-down.sh"
fi

start=$(date +%s)
mkdir -p "$PKI" "$PIDS" "$LOGS" "$CLUSTER_DIR/etcd" "$CLUSTER_DIR/bin"
for b in etcd etcdctl kube-apiserver kube-controller-manager kube-scheduler kubectl kwok kubelet kube-proxy; do
	ln -sfn "$BIN/$b" "$CLUSTER_DIR/bin/$b"
done

# --- PKI: a cluster CA, the apiserver serving certificate, the service
# account signing key, and static bearer tokens for each component.
openssl_quiet() { openssl "$@" >/dev/null 2>&1; }
openssl_quiet req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 \
	-subj "/CN=gpuquota-test-ca" -keyout "$PKI/ca.key" -out "$PKI/ca.crt"
openssl_quiet req -newkey rsa:2048 -nodes -sha256 -subj "/CN=kube-apiserver" \
	-keyout "$PKI/apiserver.key" -out "$PKI/apiserver.csr"
printf 'subjectAltName=IP:127.0.0.1,IP:%s,IP:%s,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' \
	"$KUBERNETES_SERVICE_IP" "$APISERVER_ADDR" >"$PKI/apiserver.ext"
openssl_quiet x509 -req -in "$PKI/apiserver.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
	-CAcreateserial -days 3650 -sha256 -extfile "$PKI/apiserver.ext" -out "$PKI/apiserver.crt"
# The apiserver's client certificate towards kubelets (logs, exec, proxy).
openssl_quiet req -newkey rsa:2048 -nodes -sha256 -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" \
	-keyout "$PKI/apiserver-kubelet-client.key" -out "$PKI/apiserver-kubelet-client.csr"
printf 'extendedKeyUsage=clientAuth\n' >"$PKI/client.ext"
openssl_quiet x509 -req -in "$PKI/apiserver-kubelet-client.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
	-CAcreateserial -days 3650 -sha256 -extfile "$PKI/client.ext" -out "$PKI/apiserver-kubelet-client.crt"
openssl_quiet genrsa -out "$PKI/sa.key" 2048
openssl_quiet rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub"

token() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
ADMIN_TOKEN=$(token); KCM_TOKEN=$(token); SCHED_TOKEN=$(token); KWOK_TOKEN=$(token)
KUBELET_TOKEN=$(token); PROXY_TOKEN=$(token)
cat >"$PKI/tokens.csv" <<TOK
$ADMIN_TOKEN,admin,admin,"system:masters"
$KCM_TOKEN,system:kube-controller-manager,kcm,""
$SCHED_TOKEN,system:kube-scheduler,scheduler,""
$KWOK_TOKEN,kwok-controller,kwok,"system:masters"
$KUBELET_TOKEN,system:node:$NODE_NAME,kubelet-$NODE_NAME,"system:nodes"
$PROXY_TOKEN,system:kube-proxy,kube-proxy,""
TOK
chmod 600 "$PKI"/*.key "$PKI/tokens.csv"

write_kubeconfig() { # FILE USER TOKEN
	local ca
	ca=$(base64 -w0 "$PKI/ca.crt")
	cat >"$1" <<KC
apiVersion: v1
kind: Config
clusters:
- name: gpuquota-test
  cluster:
    server: https://$APISERVER_ADDR:$APISERVER_PORT
    certificate-authority-data: $ca
users:
- name: $2
  user:
    token: $3
contexts:
- name: gpuquota-test
  context: {cluster: gpuquota-test, user: $2}
current-context: gpuquota-test
KC
	chmod 600 "$1"
}
write_kubeconfig "$KUBECONFIG_OUT" admin "$ADMIN_TOKEN"
write_kubeconfig "$PKI/kcm.kubeconfig" system:kube-controller-manager "$KCM_TOKEN"
write_kubeconfig "$PKI/scheduler.kubeconfig" system:kube-scheduler "$SCHED_TOKEN"
write_kubeconfig "$PKI/kwok.kubeconfig" kwok-controller "$KWOK_TOKEN"
write_kubeconfig "$PKI/kubelet.kubeconfig" "system:node:$NODE_NAME" "$KUBELET_TOKEN"
write_kubeconfig "$PKI/kube-proxy.kubeconfig" system:kube-proxy "$PROXY_TOKEN"

# shellcheck source=test/cluster/proc.sh
. "$HERE/proc.sh"

launch etcd "$BIN/etcd" --name gpuquota-test --data-dir "$CLUSTER_DIR/etcd" \
	--listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
	--advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
	--listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
	--initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
	--initial-cluster "gpuquota-test=http://127.0.0.1:$ETCD_PEER_PORT" \
	--listen-metrics-urls "http://127.0.0.1:$ETCD_METRICS_PORT" \
	--quota-backend-bytes 4294967296 --unsafe-no-fsync --log-level warn
wait_for etcd 20 "$BIN/etcdctl" --endpoints "http://127.0.0.1:$ETCD_PORT" endpoint health

if [ "$GQ_REAL_NODE" = 1 ]; then
	"$HERE/node.sh" net-up
	# The kubernetes Service's endpoint is the advertised address, kept by the
	# lease reconciler (a loopback address would be refused as an endpoint).
	RECONCILER=lease
else
	RECONCILER=none
fi
launch kube-apiserver "$BIN/kube-apiserver" \
	--etcd-servers "http://127.0.0.1:$ETCD_PORT" \
	--bind-address "$APISERVER_ADDR" --advertise-address "$APISERVER_ADDR" --secure-port "$APISERVER_PORT" \
	--tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
	--client-ca-file "$PKI/ca.crt" \
	--token-auth-file "$PKI/tokens.csv" \
	--kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
	--kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
	--kubelet-preferred-address-types InternalIP \
	--authorization-mode Node,RBAC \
	--enable-admission-plugins PodNodeSelector,NodeRestriction \
	--service-cluster-ip-range "$SERVICE_CIDR" \
	--service-account-issuer https://kubernetes.default.svc \
	--service-account-key-file "$PKI/sa.pub" \
	--service-account-signing-key-file "$PKI/sa.key" \
	--allow-privileged=true \
	--endpoint-reconciler-type "$RECONCILER" \
	--enable-priority-and-fairness=false \
	--v 1
wait_for kube-apiserver 60 $KUBECTL get --raw /readyz

# The real node's containerd and kubelet start now; the kubelet registers
# while the rest comes up (waited for at the end).
[ "$GQ_REAL_NODE" = 1 ] && { "$HERE/node.sh" start || die "the real node did not start (logs in $LOGS)"; }

launch kube-controller-manager "$BIN/kube-controller-manager" \
	--kubeconfig "$PKI/kcm.kubeconfig" \
	--authentication-kubeconfig "$PKI/kcm.kubeconfig" \
	--authorization-kubeconfig "$PKI/kcm.kubeconfig" \
	--bind-address 127.0.0.1 --secure-port "$KCM_PORT" \
	--controllers '*' \
	--use-service-account-credentials=true \
	--service-account-private-key-file "$PKI/sa.key" \
	--root-ca-file "$PKI/ca.crt" \
	--leader-elect=false \
	--kube-api-qps 200 --kube-api-burst 400 \
	--resource-quota-sync-period 10s \
	--concurrent-resource-quota-syncs 5 \
	--v 1

launch kube-scheduler "$BIN/kube-scheduler" \
	--kubeconfig "$PKI/scheduler.kubeconfig" \
	--authentication-kubeconfig "$PKI/scheduler.kubeconfig" \
	--authorization-kubeconfig "$PKI/scheduler.kubeconfig" \
	--bind-address 127.0.0.1 --secure-port "$SCHEDULER_PORT" \
	--leader-elect=false \
	--v 1

launch kwok "$BIN/kwok" \
	--kubeconfig "$PKI/kwok.kubeconfig" \
	--config "$HERE/kwok-stages.yaml" \
	--manage-all-nodes=false \
	--manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
	--node-lease-duration-seconds 40 \
	--cidr 10.244.0.0/16 --node-ip 127.0.0.1 \
	--server-address "127.0.0.1:$KWOK_PORT"

wait_for kube-controller-manager 60 curl -skf "https://127.0.0.1:$KCM_PORT/healthz"
wait_for kube-scheduler 60 curl -skf "https://127.0.0.1:$SCHEDULER_PORT/healthz"

# The default service account appears once the serviceaccount controller runs.
wait_for "default service account" 60 $KUBECTL -n default get serviceaccount default

$KUBECTL apply -f "$HERE/nodes.yaml" >/dev/null
wait_for "simulated nodes" 60 sh -c "test \"\$($KUBECTL get nodes -l type=kwok --no-headers 2>/dev/null | grep -c ' Ready ')\" = \"\$($KUBECTL get nodes -l type=kwok --no-headers | wc -l)\""

launch fake-mig-manager "$HERE/fake-mig-manager.sh" "$KUBECONFIG_OUT" "$BIN/kubectl"
CLUSTER_DIR="$CLUSTER_DIR" "$HERE/prometheus.sh" || die "Prometheus did not start"
[ "$GQ_REAL_NODE" = 1 ] && "$HERE/node.sh" wait

log "cluster ready in $(($(date +%s) - start))s"
log "  export KUBECONFIG=$KUBECONFIG_OUT; PATH=$CLUSTER_DIR/bin:\$PATH"
[ "$GQ_REAL_NODE" = 1 ] && log "  real node $NODE_NAME ($NODE_IP, pods $NODE_POD_CIDR): tolerate $NODE_TAINT to run there"
log "  Prometheus: http://127.0.0.1:$PROMETHEUS_PORT (scrapes the controller on 127.0.0.1:$CTL_METRICS_PORT)"
