# Loopback ports of a local test cluster and of the controller run against it.
# Each port can be overridden through the environment; GQ_PORT_OFFSET (default
# 0) shifts all the defaults at once, so that several clusters (make demo's,
# make test's, parallel runs) can coexist on one machine, each with its own
# CLUSTER_DIR. make test uses GQ_PORT_OFFSET=100 and .cluster-test/.
GQ_PORT_OFFSET=${GQ_PORT_OFFSET:-0}
ETCD_PORT=${ETCD_PORT:-$((32379 + GQ_PORT_OFFSET))}
ETCD_PEER_PORT=${ETCD_PEER_PORT:-$((32380 + GQ_PORT_OFFSET))}
ETCD_METRICS_PORT=${ETCD_METRICS_PORT:-$((32381 + GQ_PORT_OFFSET))}
APISERVER_PORT=${APISERVER_PORT:-$((36443 + GQ_PORT_OFFSET))}
KCM_PORT=${KCM_PORT:-$((30257 + GQ_PORT_OFFSET))}
SCHEDULER_PORT=${SCHEDULER_PORT:-$((30259 + GQ_PORT_OFFSET))}
KWOK_PORT=${KWOK_PORT:-$((30247 + GQ_PORT_OFFSET))}
# The controller's metrics, health probes and webhook (the apiserver of this
# cluster calls the webhook on WEBHOOK_PORT).
CTL_METRICS_PORT=${CTL_METRICS_PORT:-$((18080 + GQ_PORT_OFFSET))}
CTL_HEALTH_PORT=${CTL_HEALTH_PORT:-$((18081 + GQ_PORT_OFFSET))}
WEBHOOK_PORT=${WEBHOOK_PORT:-$((19443 + GQ_PORT_OFFSET))}
# Prometheus of the test bed (test/cluster/prometheus.sh), scraping the controller.
PROMETHEUS_PORT=${PROMETHEUS_PORT:-$((19090 + GQ_PORT_OFFSET))}
# The bed's real node (test/cluster/node.sh): its kubelet and kube-proxy run
# in a network namespace of their own, so these ports cannot collide with
# another cluster's; they are shifted all the same, to be told apart.
KUBELET_PORT=${KUBELET_PORT:-$((10250 + GQ_PORT_OFFSET))}
KUBELET_HEALTHZ_PORT=${KUBELET_HEALTHZ_PORT:-$((10248 + GQ_PORT_OFFSET))}
KUBE_PROXY_METRICS_PORT=${KUBE_PROXY_METRICS_PORT:-$((10249 + GQ_PORT_OFFSET))}
KUBE_PROXY_HEALTHZ_PORT=${KUBE_PROXY_HEALTHZ_PORT:-$((10256 + GQ_PORT_OFFSET))}
# Its addresses, one /24 (or /30) per cluster: GQ_NET_ID (default the
# offset's hundreds, so offsets 0, 100, 1000, 1200 get 0, 1, 10, 12) picks
# them; clusters with a real node side by side need different ids.
GQ_NET_ID=${GQ_NET_ID:-$(((GQ_PORT_OFFSET / 100) % 250))}
GQ_REAL_NODE=${GQ_REAL_NODE:-1}
NODE_NAME=${NODE_NAME:-gq-node-$GQ_PORT_OFFSET}
NODE_NETNS=gq-node-$GQ_PORT_OFFSET
NODE_VETH=gqh$GQ_PORT_OFFSET
NODE_HOST_IP=10.98.$GQ_NET_ID.1
NODE_IP=10.98.$GQ_NET_ID.2
NODE_POD_CIDR=10.97.$GQ_NET_ID.0/24
SERVICE_CIDR=10.96.$GQ_NET_ID.0/24
KUBERNETES_SERVICE_IP=10.96.$GQ_NET_ID.1
# The node is tainted: only pods that tolerate this land there (and it is
# labelled gpuquota.io/real-node=true for them to select it).
NODE_TAINT_KEY=gpuquota.io/real-node
NODE_TAINT=$NODE_TAINT_KEY=true:NoSchedule
