#!/usr/bin/env bash
# Starts Prometheus (Debian's package, /usr/bin/prometheus) for a local
# cluster: on loopback only (127.0.0.1:$PROMETHEUS_PORT), its data in
# $CLUSTER_DIR/prometheus, its pid file in $CLUSTER_DIR/pids/prometheus.pid
# (cluster-down.sh stops it), scraping the controller's /metrics
# (127.0.0.1:$CTL_METRICS_PORT) every 2 s. Idempotent: a running one is left
# alone. Never uses a system Prometheus (port 9090) the package may start.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CLUSTER_DIR=${CLUSTER_DIR:-$ROOT/.cluster}
. "$ROOT/test/cluster/ports.sh"
PROMETHEUS=${PROMETHEUS:-/usr/bin/prometheus}
PIDS="$CLUSTER_DIR/pids"
LOGS="$CLUSTER_DIR/logs"
CONF="$CLUSTER_DIR/prometheus.yml"
URL="http://127.0.0.1:$PROMETHEUS_PORT"

log() { printf 'prometheus: %s\n' "$*" >&2; }

if [ -f "$PIDS/prometheus.pid" ] && kill -0 "$(cat "$PIDS/prometheus.pid")" 2>/dev/null &&
	curl -sf "$URL/-/ready" >/dev/null 2>&1; then
	exit 0
fi
if ! [ -x "$PROMETHEUS" ]; then
	log "error: $PROMETHEUS not found (make deps installs Debian's prometheus package)"
	exit 1
fi
mkdir -p "$PIDS" "$LOGS" "$CLUSTER_DIR/prometheus"
cat >"$CONF" <<YAML
# Written by test/cluster/prometheus.sh.
global:
  scrape_interval: 2s
  scrape_timeout: 2s
  evaluation_interval: 2s
scrape_configs:
  - job_name: gpuquota
    metrics_path: /metrics
    static_configs:
      - targets: ["127.0.0.1:$CTL_METRICS_PORT"]
YAML
setsid "$PROMETHEUS" --config.file "$CONF" \
	--storage.tsdb.path "$CLUSTER_DIR/prometheus" --storage.tsdb.retention.time 2d \
	--web.listen-address "127.0.0.1:$PROMETHEUS_PORT" \
	>"$LOGS/prometheus.log" 2>&1 </dev/null &
echo $! >"$PIDS/prometheus.pid"
for ((i = 0; i < 150; i++)); do
	curl -sf "$URL/-/ready" >/dev/null 2>&1 && exit 0
	kill -0 "$(cat "$PIDS/prometheus.pid")" 2>/dev/null || break
	sleep 0.2
done
log "error: Prometheus did not become ready (log: $LOGS/prometheus.log)"
exit 1
