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
