#!/usr/bin/env bash
# bench/scale.sh - `make bench-scale`: the controller at fleet scale on the
# local cluster (own ports and state: it never collides with a demo or test
# cluster). See bench/README.md, "Scale".
#
#  1. starts a cluster (no real node) on ports +BENCH_PORT_OFFSET (700) in
#     BENCH_CLUSTER_DIR (.cluster-bench/), installs the CRD, RBAC and
#     policies, and creates the controller's ServiceAccount kubeconfig;
#  2. P2 convergence: TEAMS allocations of P2_NS namespaces each. First the
#     offline path on one set of names: `gpuquota-controller render -f FILE |
#     kubectl apply --server-side -f -`, timed, and the time until the quota
#     controller enforces every quota it wrote; those objects are then removed.
#     Then the controller on a second set of names (same shape): start →
#     every allocation Ready. The allocations are then deleted (the
#     controller cleans up) so that the next phase sees only its own teams;
#  3. pods: POD_TEAMS teams with a budget, one namespace each. A controller
#     run with no pods (baseline RSS); then N GPU pods created in parallel
#     over HTTP/2 (bound by spec.nodeName to large kwok nodes, carrying the
#     accounting finalizer and the team's priority class as the webhook would
#     set them), all Running; a raw paginated LIST of them with the
#     controller's token and page size; the controller started again: ready
#     time, RSS, CPU during sync, then a steady minute (CPU, API requests and
#     writes), then the ledgers against the pods' timestamps;
#  4. prints a table, writes bench/results/scale.json; the cluster is torn
#     down on exit, failure included.
#
# Environment: N (GPU pods, default 50000), TEAMS (P2 allocations, 1000),
# P2_NS (namespaces per P2 allocation, 3), POD_TEAMS (teams holding the pods,
# 100), BENCH_STEADY (seconds of the steady window, 60), BENCH_LEDGER
# (--ledger-interval, 10s: the controller's default), BENCH_RESYNC
# (--resync-period, 10m: its default), BENCH_TIMEOUT (seconds any one wait
# may take, 900), BENCH_PARALLEL (curl processes creating objects, 4),
# BENCH_STREAMS (concurrent requests per curl process, 16), BENCH_PORT_OFFSET
# (700), BENCH_CLUSTER_DIR (.cluster-bench), BENCH_OUT
# (bench/results/scale.json), BENCH_KEEP_CLUSTER (1: leave the cluster up),
# BENCH_STRICT (1: exit 1 when a target is missed).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

N=${N:-50000}
TEAMS=${TEAMS:-1000}
P2_NS=${P2_NS:-3}
POD_TEAMS=${POD_TEAMS:-100}
STEADY=${BENCH_STEADY:-60}
LEDGER=${BENCH_LEDGER:-10s}
RESYNC=${BENCH_RESYNC:-10m}
TMO=${BENCH_TIMEOUT:-900}
PAR=${BENCH_PARALLEL:-4}
STREAMS=${BENCH_STREAMS:-16}
OUT=${BENCH_OUT:-bench/results/scale.json}
STRICT=${BENCH_STRICT:-0}
KEEP=${BENCH_KEEP_CLUSTER:-0}
export GQ_PORT_OFFSET=${BENCH_PORT_OFFSET:-700}
export CLUSTER_DIR=${BENCH_CLUSTER_DIR:-$ROOT/.cluster-bench}
export GQ_REAL_NODE=0
PAGE=500                  # the informers' LIST page (GQ_INFORMER_PAGE, informer.h)
PODS_PER_NODE=10000       # pods bound to one simulated node
TARGET_CATCHUP=1.5        # ready time / raw LIST time
TARGET_RSS_MB=64          # VmRSS with 50,000 pods and 100 teams
TARGET_P2=1.5             # controller convergence / render | apply
T_START=$(date +%s)

log() { printf 'bench-scale: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}
case $LEDGER in
*s) LEDGER_S=${LEDGER%s} ;;
*m) LEDGER_S=$((${LEDGER%m} * 60)) ;;
*) LEDGER_S=x ;;
esac
[[ $LEDGER_S =~ ^[0-9]+$ ]] || die "BENCH_LEDGER must be whole seconds or minutes (10s, 1m)"
for v in N TEAMS P2_NS POD_TEAMS STEADY TMO PAR STREAMS; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number (got '${!v}')"
done
[ "$POD_TEAMS" -ge 1 ] && [ "$PAR" -ge 1 ] && [ "$STREAMS" -ge 1 ] || die "POD_TEAMS, BENCH_PARALLEL, BENCH_STREAMS must be >= 1"
for t in curl jq python3 openssl; do command -v "$t" >/dev/null || die "$t is missing (make deps)"; done
[ -x bin/gpuquota-controller ] || die "bin/gpuquota-controller missing (make build)"

# The e2e helpers: wait_for, controller_install (CRD, RBAC, policies,
# webhook registration, the ServiceAccount kubeconfig), controller_stop and
# the controller's ports/pid file for this CLUSTER_DIR.
KUBECTL="$CLUSTER_DIR/bin/kubectl --kubeconfig $CLUSTER_DIR/kubeconfig"
# shellcheck source=test/e2e/lib.sh
. "$ROOT/test/e2e/lib.sh"
# shellcheck source=test/e2e/controller.sh
. "$ROOT/test/e2e/controller.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gq-bench-scale.XXXXXX")
RES="$WORK/results"
: >"$RES"
cleanup() {
	local rc=$?
	set +e
	if [ -n "${CTL_PID-}" ] && kill -0 "$CTL_PID" 2>/dev/null; then
		kill -TERM "$CTL_PID"
		for _ in $(seq 50); do kill -0 "$CTL_PID" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$CTL_PID" 2>/dev/null
	fi
	if [ "$rc" != 0 ] && [ -s "$CTL_LOG" ]; then
		log "controller log tail:"
		tail -n 20 "$CTL_LOG" >&2
	fi
	if [ "$KEEP" = 1 ]; then
		log "cluster left running (BENCH_KEEP_CLUSTER=1): CLUSTER_DIR=$CLUSTER_DIR GQ_PORT_OFFSET=$GQ_PORT_OFFSET GQ_REAL_NODE=0 test/cluster/cluster-down.sh stops it"
	else
		test/cluster/cluster-down.sh >/dev/null 2>&1
	fi
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# put KEY VALUE: one result (numbers, or strings without spaces).
put() { printf '%s %s\n' "$1" "$2" >>"$RES"; }
now_ms() { date +%s%3N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", (b - a) / 1000}'; }
# until_ok SECS INTERVAL DESC CMD...: CMD every INTERVAL s until it succeeds;
# dies after SECS.
until_ok() {
	local secs=$1 iv=$2 desc=$3 end
	shift 3
	end=$(($(date +%s) + secs))
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$end" ] || die "timed out after ${secs}s waiting for $desc"
		sleep "$iv"
	done
}

# --- cluster -----------------------------------------------------------------
if [ -d "$CLUSTER_DIR" ]; then
	log "stopping the earlier benchmark cluster in $CLUSTER_DIR"
	test/cluster/cluster-down.sh >/dev/null 2>&1 || true
fi
log "starting the cluster (ports +$GQ_PORT_OFFSET, $CLUSTER_DIR)"
test/cluster/cluster-up.sh 2>"$WORK/cluster-up.log" || {
	cat "$WORK/cluster-up.log" >&2
	die "cluster-up failed"
}
SERVER=$($KUBECTL config view --raw -o jsonpath='{.clusters[0].cluster.server}')
ADMIN_TOKEN=$($KUBECTL config view --raw -o jsonpath='{.users[0].user.token}')
CA="$CLUSTER_DIR/pki/ca.crt"
controller_install
CTL_TOKEN=$(sed -n 's/.*token: "\([^"]*\)".*/\1/p' "$CTL_KUBECONFIG")
[ -n "$CTL_TOKEN" ] || die "no token in $CTL_KUBECONFIG"
CLK_TCK=$(getconf CLK_TCK)
# Not curl's own: the apiserver pretty-prints JSON for user agents starting
# with "curl", which would make its answers larger and slower than the
# controller's.
UA=gpuquota-bench-scale

# api METHOD PATH [curl args]: one request as admin; prints the body.
api() {
	local m=$1 p=$2
	shift 2
	curl -sS --fail --max-time 120 -A "$UA" --cacert "$CA" -H "Authorization: Bearer $ADMIN_TOKEN" \
		-X "$m" "$@" "$SERVER$p"
}

# many FILE: sends the requests listed in FILE, one a line "METHOD PATH
# [BODY]" (BODY: JSON without spaces), BENCH_PARALLEL curl processes at once,
# each with up to BENCH_STREAMS concurrent requests multiplexed on one HTTP/2
# connection. Prints "OK FAILED" (2xx answers, others) and keeps the codes of
# the failures in $WORK/many.failed.
many() {
	local f=$1 d c pids=()
	d=$(mktemp -d "$WORK/many.XXXXXX")
	split -n "l/$PAR" -d "$f" "$d/chunk."
	for c in "$d"/chunk.*; do
		[ -s "$c" ] || continue
		awk -v srv="$SERVER" -v tok="$ADMIN_TOKEN" -v ca="$CA" -v ua="$UA" '
			function q(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); return "\"" s "\"" }
			{
				if (NR > 1) print "next"
				print "url = " q(srv $2)
				print "request = " q($1)
				print "cacert = " q(ca)
				print "user-agent = " q(ua)
				print "header = " q("Authorization: Bearer " tok)
				if (NF > 2) {
					ct = $1 == "PATCH" ? "application/merge-patch+json" : "application/json"
					print "header = " q("Content-Type: " ct)
					print "data-binary = " q($3)
				}
				print "output = \"/dev/null\""
				print "write-out = \"%{http_code}\\n\""
			}' "$c" >"$c.cfg"
		curl -sS --parallel --parallel-max "$STREAMS" --http2 -K "$c.cfg" >"$c.codes" 2>"$c.err" &
		pids+=($!)
	done
	for c in "${pids[@]}"; do wait "$c" || true; done
	cat "$d"/chunk.*.codes 2>/dev/null | grep -v '^2' | sort | uniq -c >"$WORK/many.failed" || true
	cat "$d"/chunk.*.codes 2>/dev/null | awk -v want="$(wc -l <"$f")" '
		/^2/ {ok++} END {print ok + 0, want - ok}'
	rm -rf "$d"
}
# many_ok WHAT FILE: many, dying when any request failed.
many_ok() {
	local r ok bad t0
	t0=$(now_ms)
	r=$(many "$2")
	read -r ok bad <<<"$r"
	[ "$bad" = 0 ] || die "$1: $bad of $((ok + bad)) requests failed (codes: $(tr '\n' ' ' <"$WORK/many.failed"))"
	log "$1: $ok requests in $(secs "$t0" "$(now_ms)")s"
}

# proc_cpu PID: CPU seconds (utime + stime) of the process so far.
proc_cpu() {
	local line rest f
	line=$(cat "/proc/$1/stat") || return 1
	rest=${line##*) }
	read -r -a f <<<"$rest"
	awk -v u="${f[11]}" -v s="${f[12]}" -v t="$CLK_TCK" 'BEGIN{printf "%.2f", (u + s) / t}'
}
# proc_kb PID FIELD: VmRSS / VmHWM in kB.
proc_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
mb() { awk -v k="$1" 'BEGIN{printf "%.1f", k / 1024}'; }
# metric_of NAME: an unlabelled controller metric (0 when absent).
metric_of() {
	curl -sf --max-time 10 "http://$CTL_METRICS/metrics" | awk -v m="$1" '$1 == m {v = $2} END {print v + 0}'
}

# --- the controller ----------------------------------------------------------
# Started as controller_start does (ServiceAccount token, leader election,
# own pid file read by cluster-down), with the binary's default resync and
# ledger intervals, timed by the caller.
ctl_start() {
	: >"$CTL_LOG"
	POD_NAME=gpuquota-controller-0 setsid "$CTL_BIN" run --kubeconfig "$CTL_KUBECONFIG" --leader-elect \
		--metrics-bind-address "$CTL_METRICS" --health-probe-bind-address "$CTL_HEALTH" \
		--resync-period "$RESYNC" --ledger-interval "$LEDGER" --log-level info \
		--webhook-bind-address "127.0.0.1:$CTL_WEBHOOK_PORT" --webhook-hosts 127.0.0.1 \
		--shutdown-grace 1s >>"$CTL_LOG" 2>&1 </dev/null &
	CTL_PID=$!
	echo "$CTL_PID" >"$CTL_PIDFILE"
	disown "$CTL_PID" 2>/dev/null || true
}
ctl_ready() { curl -sf --max-time 2 "http://$CTL_HEALTH/readyz" >/dev/null; }
# ctl_wait_ready: waits for /readyz 200 (polled every 0.1 s); sets T_READY.
ctl_wait_ready() {
	local end=$(($(date +%s) + TMO))
	until ctl_ready; do
		kill -0 "$CTL_PID" 2>/dev/null || {
			tail -n 20 "$CTL_LOG" >&2
			die "the controller exited"
		}
		[ "$(date +%s)" -lt "$end" ] || die "the controller was not ready within ${TMO}s"
		sleep 0.1
	done
	T_READY=$(now_ms)
}
ctl_stop() {
	cp "$CTL_LOG" "$WORK/controller.log" 2>/dev/null || true
	controller_stop
	CTL_PID=
}
# The log's "caches synced" line: its time in ms since the epoch.
synced_log_ms() {
	local ts
	ts=$(grep -m1 'caches synced' "$CTL_LOG" | awk '{print $1}')
	[ -n "$ts" ] || return 1
	date -d "$ts" +%s%3N
}

# ready_count SELECTOR: allocations with that label whose Ready is True.
ready_count() {
	api GET "/apis/gpuquota.io/v1alpha1/gputeamallocations?labelSelector=$1" |
		jq '[.items[] | select(any(.status.conditions[]?; .type == "Ready" and .status == "True"))] | length'
}
# all_ready SELECTOR WANT
all_ready() { [ "$(ready_count "$1")" -ge "$2" ]; }

# --- fleet definitions -------------------------------------------------------
# p2_team PREFIX I: one P2 allocation (quota, limits, one tier) over P2_NS
# namespaces PREFIX-I-0..; the namespaces' creation requests go to $WORK/ns.
p2_gta() {
	local name=$1 ns="" k
	for ((k = 0; k < P2_NS; k++)); do ns="$ns${ns:+, }$name-$k"; done
	cat <<Y
---
apiVersion: gpuquota.io/v1alpha1
kind: GPUTeamAllocation
metadata:
  name: $name
  labels: {bench: $2}
spec:
  namespaces: [$ns]
  quota:
    gpus: 8
    resources: {requests.cpu: "64", requests.memory: 512Gi}
  limits:
    container:
      defaultRequest: {cpu: "1", memory: 2Gi}
  priorities:
    tiers:
      - {name: train, value: 1000}
    defaultTier: train
Y
}
# p2_set PREFIX: the allocation file $WORK/PREFIX.yaml and its namespaces.
p2_set() {
	local i name k
	: >"$WORK/$1.yaml"
	: >"$WORK/$1-ns.req"
	for ((i = 0; i < TEAMS; i++)); do
		name=$(printf '%s-%04d' "$1" "$i")
		p2_gta "$name" "$1" >>"$WORK/$1.yaml"
		for ((k = 0; k < P2_NS; k++)); do
			printf 'POST /api/v1/namespaces {"metadata":{"name":"%s-%d","labels":{"bench":"%s"}}}\n' \
				"$name" "$k" "$1" >>"$WORK/$1-ns.req"
		done
	done
}

# ==== P2 convergence =========================================================
P2_RQS=$((TEAMS * P2_NS * 2))
if [ "$TEAMS" -gt 0 ]; then
	log "P2: $TEAMS allocations x $P2_NS namespaces"
	p2_set p2r
	p2_set p2c
	many_ok "P2 namespaces (render | apply set)" "$WORK/p2r-ns.req"
	many_ok "P2 namespaces (controller set)" "$WORK/p2c-ns.req"
	bin/gpuquota-controller render -f "$WORK/p2r.yaml" >"$WORK/p2r-rendered.yaml" ||
		die "render failed"
	# kubectl's discovery cache warmed before the clock starts, as the
	# controller's informers need none.
	$KUBECTL api-resources >/dev/null
	log "P2: render | kubectl apply --server-side"
	t0=$(now_ms)
	bin/gpuquota-controller render -f "$WORK/p2r.yaml" | $KUBECTL apply --server-side -f - >/dev/null ||
		die "render | kubectl apply failed"
	t1=$(now_ms)
	put p2_render_apply_s "$(secs "$t0" "$t1")"
	put p2_objects "$(grep -c '^kind:' "$WORK/p2r-rendered.yaml")"
	# The quota controller then enforces them (status.hard = spec.hard),
	# which is also part of an allocation's Ready.
	enforced() {
		[ "$(api GET "/api/v1/resourcequotas?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dgpuquota" |
			jq '[.items[] | select(.status.hard != null and .status.hard == .spec.hard)] | length')" -ge "$P2_RQS" ]
	}
	until_ok "$TMO" 0.5 "the quota controller to enforce the rendered quotas" enforced
	put p2_render_apply_enforced_s "$(secs "$t0" "$(now_ms)")"
	log "P2: render | apply $(secs "$t0" "$t1")s, enforced after $(secs "$t0" "$(now_ms)")s; removing those objects"
	: >"$WORK/p2r-del.req"
	for ((i = 0; i < TEAMS; i++)); do
		for ((k = 0; k < P2_NS; k++)); do
			ns=$(printf 'p2r-%04d-%d' "$i" "$k")
			printf 'DELETE /api/v1/namespaces/%s/resourcequotas?labelSelector=app.kubernetes.io%%2Fmanaged-by%%3Dgpuquota\n' "$ns"
			printf 'DELETE /api/v1/namespaces/%s/limitranges?labelSelector=app.kubernetes.io%%2Fmanaged-by%%3Dgpuquota\n' "$ns"
			printf 'PATCH /api/v1/namespaces/%s {"metadata":{"labels":{"gpuquota.io/team":null}}}\n' "$ns"
		done
	done >"$WORK/p2r-del.req"
	many_ok "P2: removing the rendered objects" "$WORK/p2r-del.req"
	api DELETE "/apis/scheduling.k8s.io/v1/priorityclasses?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dgpuquota" >/dev/null

	$KUBECTL apply --server-side -f "$WORK/p2c.yaml" >/dev/null
	log "P2: controller start, $TEAMS allocations to converge"
	t0=$(now_ms)
	ctl_start
	ctl_wait_ready
	put p2_ctl_ready_s "$(secs "$t0" "$T_READY")"
	# Also when the quotas it wrote are all enforced: what is left after
	# that is the controller noticing it and writing the allocations' status.
	P2C_ENFORCED=
	p2c_progress() {
		if [ -z "$P2C_ENFORCED" ] && enforced; then P2C_ENFORCED=$(now_ms); fi
		all_ready bench%3Dp2c "$TEAMS"
	}
	until_ok "$TMO" 1 "every P2 allocation Ready" p2c_progress
	t1=$(now_ms)
	put p2_ctl_converge_s "$(secs "$t0" "$t1")"
	put p2_ctl_enforced_s "$(secs "$t0" "${P2C_ENFORCED:-$t1}")"
	put p2_ctl_cpu_s "$(proc_cpu "$CTL_PID")"
	put p2_ctl_writes "$(metric_of gpuquota_api_writes_total)"
	put p2_ctl_rss_kb "$(proc_kb "$CTL_PID" VmRSS)"
	log "P2: controller converged in $(secs "$t0" "$t1")s; deleting the allocations"
	t0=$(now_ms)
	$KUBECTL delete gputeamallocations -l bench=p2c --wait=false >/dev/null
	gone() { [ "$(api GET "/apis/gpuquota.io/v1alpha1/gputeamallocations?labelSelector=bench%3Dp2c" | jq '.items | length')" = 0 ]; }
	until_ok "$TMO" 1 "the P2 allocations to be cleaned up" gone
	put p2_ctl_cleanup_s "$(secs "$t0" "$(now_ms)")"
	ctl_stop
fi

# ==== pods ===================================================================
NODES=$(((N + PODS_PER_NODE - 1) / PODS_PER_NODE))
[ "$NODES" -ge 1 ] || NODES=1
log "pods: $N GPU pods in $POD_TEAMS teams on $NODES simulated nodes"
for ((i = 0; i < NODES; i++)); do
	cat <<Y
---
apiVersion: v1
kind: Node
metadata:
  name: bench-node-$i
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels:
    type: kwok-bench
    kubernetes.io/hostname: bench-node-$i
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    nvidia.com/gpu.present: "true"
    nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3
    nvidia.com/gpu.replicas: "1"
status:
  allocatable: {cpu: "100000", memory: 100Ti, pods: "$((PODS_PER_NODE * 2))", nvidia.com/gpu: "$((PODS_PER_NODE * 2))"}
  capacity: {cpu: "100000", memory: 100Ti, pods: "$((PODS_PER_NODE * 2))", nvidia.com/gpu: "$((PODS_PER_NODE * 2))"}
Y
done >"$WORK/nodes.yaml"
$KUBECTL apply -f "$WORK/nodes.yaml" >/dev/null
nodes_ready() {
	[ "$($KUBECTL get nodes -l type=kwok-bench --no-headers 2>/dev/null | grep -c ' Ready ')" = "$NODES" ]
}
until_ok 120 0.5 "the benchmark nodes Ready" nodes_ready

: >"$WORK/bt.yaml"
: >"$WORK/bt-ns.req"
for ((i = 0; i < POD_TEAMS; i++)); do
	t=$(printf 'bt-%03d' "$i")
	printf 'POST /api/v1/namespaces {"metadata":{"name":"%s","labels":{"bench":"bt"}}}\n' "$t" >>"$WORK/bt-ns.req"
	cat >>"$WORK/bt.yaml" <<Y
---
apiVersion: gpuquota.io/v1alpha1
kind: GPUTeamAllocation
metadata:
  name: $t
  labels: {bench: bt}
spec:
  namespaces: [$t]
  quota:
    gpus: $((PODS_PER_NODE * 2))
  priorities:
    tiers:
      - {name: train, value: 1000}
    defaultTier: train
  budget:
    gpuHours: "1000000"
    period: Daily
    onExhausted: Deny
Y
done
many_ok "pod teams' namespaces" "$WORK/bt-ns.req"
$KUBECTL apply --server-side -f "$WORK/bt.yaml" >/dev/null

# Baseline: the same teams, no pods (their priority classes are created now).
log "baseline: controller with $POD_TEAMS teams and no pods"
t0=$(now_ms)
ctl_start
ctl_wait_ready
put base_ready_s "$(secs "$t0" "$T_READY")"
until_ok "$TMO" 1 "the pod teams Ready (baseline)" all_ready bench%3Dbt "$POD_TEAMS"
sleep "$((LEDGER_S + 2))"
put base_rss_kb "$(proc_kb "$CTL_PID" VmRSS)"
put base_hwm_kb "$(proc_kb "$CTL_PID" VmHWM)"
ctl_stop
# Pods are created as the webhook would have admitted them, with the
# webhook out of the way (its registration removed: the apiserver would call
# a stopped controller for each pod) and without the teams' quotas (the
# quota admission would serialize the creations per namespace); the
# controller puts both back when it starts.
$KUBECTL delete mutatingwebhookconfiguration gpuquota --ignore-not-found >/dev/null
: >"$WORK/bt-rq.req"
for ((i = 0; i < POD_TEAMS; i++)); do
	t=$(printf 'bt-%03d' "$i")
	printf 'DELETE /api/v1/namespaces/%s/resourcequotas?labelSelector=app.kubernetes.io%%2Fmanaged-by%%3Dgpuquota\n' "$t"
done >"$WORK/bt-rq.req"
many_ok "pod teams' quotas removed" "$WORK/bt-rq.req"

log "creating $N pods"
: >"$WORK/pods.req"
per=$((N / POD_TEAMS))
extra=$((N % POD_TEAMS))
for ((i = 0; i < POD_TEAMS; i++)); do
	t=$(printf 'bt-%03d' "$i")
	n=$((per + (i < extra ? 1 : 0)))
	[ "$n" -gt 0 ] || continue
	body=$(printf '{"metadata":{"generateName":"gpu-","labels":{"app":"bench-scale"},"finalizers":["gpuquota.io/accounting"]},"spec":{"nodeName":"bench-node-%d","priorityClassName":"%s-train","containers":[{"name":"main","image":"registry.example/train:1","resources":{"limits":{"nvidia.com/gpu":"1"}}}]}}' \
		"$((i % NODES))" "$t")
	awk -v n="$n" -v l="POST /api/v1/namespaces/$t/pods $body" 'BEGIN{for (i = 0; i < n; i++) print l}'
done >"$WORK/pods.req"
t0=$(now_ms)
many_ok "pods created" "$WORK/pods.req"
t1=$(now_ms)
put pods_create_s "$(secs "$t0" "$t1")"
pending() {
	api GET "/api/v1/pods?resourceVersion=0&labelSelector=app%3Dbench-scale&fieldSelector=status.phase%3DPending" |
		jq '.items | length'
}
none_pending() { [ "$(pending)" = 0 ]; }
until_ok "$TMO" 3 "every pod Running (kwok)" none_pending
put pods_running_s "$(secs "$t0" "$(now_ms)")"
log "pods: created in $(secs "$t0" "$t1")s, all Running after $(secs "$t0" "$(now_ms)")s"

# Raw LIST: what any client pays to read the pods. Same path, page size,
# token, HTTP/1.1 and gzip as the controller's informer; the time of the
# pages' transfers alone (connection set-up excluded), best of 2.
raw_list() {
	local dir=$1 cont="" i=0 url w total=0
	mkdir -p "$dir"
	while :; do
		url="$SERVER/api/v1/pods?limit=$PAGE"
		[ -n "$cont" ] && url="$url&continue=$(jq -rn --arg c "$cont" '$c | @uri')"
		w=$(curl -sS --fail --http1.1 --compressed -A "$UA" --cacert "$CA" -H "Authorization: Bearer $CTL_TOKEN" \
			-o "$dir/$(printf '%05d' "$i").json" -w '%{time_total} %{time_appconnect}' "$url") ||
			die "raw LIST failed"
		total=$(awk -v t="$total" -v w="$w" 'BEGIN{split(w, a, " "); printf "%.6f", t + a[1] - a[2]}')
		cont=$(head -c 4096 "$dir/$(printf '%05d' "$i").json" | grep -o '"continue": *"[^"]*"' | cut -d'"' -f4 || true)
		i=$((i + 1))
		[ -n "$cont" ] || break
	done
	echo "$total $i"
}
read -r l1 pages <<<"$(raw_list "$WORK/list1")"
read -r l2 _ <<<"$(raw_list "$WORK/list2")"
rm -rf "$WORK/list1" "$WORK/list2"
LIST_S=$(awk -v a="$l1" -v b="$l2" 'BEGIN{printf "%.3f", a < b ? a : b}')
put raw_list_s "$LIST_S"
put raw_list_runs "$l1,$l2"
put raw_list_pages "$pages"
log "raw LIST of the pods: ${l1}s, ${l2}s ($pages pages of $PAGE)"

# The catch-up run.
"$ROOT/test/cluster/webhook-local.sh" "$KUBECTL" "$CTL_WEBHOOK_PORT"
log "controller start with $N pods"
t0=$(now_ms)
ctl_start
ctl_wait_ready
READY_S=$(secs "$t0" "$T_READY")
put ready_s "$READY_S"
if ls_ms=$(synced_log_ms); then put synced_log_s "$(secs "$t0" "$ls_ms")"; fi
put sync_cpu_s "$(proc_cpu "$CTL_PID")"
put ready_rss_kb "$(proc_kb "$CTL_PID" VmRSS)"
until_ok "$TMO" 1 "the pod teams Ready" all_ready bench%3Dbt "$POD_TEAMS"
put teams_ready_s "$(secs "$t0" "$(now_ms)")"
put teams_ready_cpu_s "$(proc_cpu "$CTL_PID")"
log "ready after ${READY_S}s, teams Ready after $(secs "$t0" "$(now_ms)")s"
# Settled: nothing queued and two ledger passes since.
quiet() { [ "$(metric_of gpuquota_workqueue_depth)" = 0 ]; }
until_ok "$TMO" 1 "an empty work queue" quiet
sleep "$((2 * LEDGER_S))"

log "steady window (${STEADY}s)"
c0=$(proc_cpu "$CTL_PID")
r0=$(metric_of gpuquota_api_requests_total)
w0=$(metric_of gpuquota_api_writes_total)
rc0=$(metric_of gpuquota_reconcile_total)
rq0=$(metric_of gpuquota_reconcile_quiet_total)
lr0=$(metric_of gpuquota_leader_lease_requests_total)
ts0=$(now_ms)
sleep "$STEADY"
ts1=$(now_ms)
c1=$(proc_cpu "$CTL_PID")
r1=$(metric_of gpuquota_api_requests_total)
w1=$(metric_of gpuquota_api_writes_total)
rc1=$(metric_of gpuquota_reconcile_total)
rq1=$(metric_of gpuquota_reconcile_quiet_total)
lr1=$(metric_of gpuquota_leader_lease_requests_total)
permin() { awk -v a="$1" -v b="$2" -v t="$(((ts1 - ts0)))" 'BEGIN{printf "%.1f", (b - a) * 60000 / t}'; }
put steady_window_s "$(secs "$ts0" "$ts1")"
put steady_cpu_s "$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.2f", b - a}')"
put steady_requests_per_min "$(permin "$r0" "$r1")"
put steady_writes_per_min "$(permin "$w0" "$w1")"
put steady_reconciles_per_min "$(permin "$rc0" "$rc1")"
put steady_quiet_per_min "$(permin "${rq0:-0}" "${rq1:-0}")"
put steady_lease_requests_per_min "$(permin "$lr0" "$lr1")"
put rss_kb "$(proc_kb "$CTL_PID" VmRSS)"
put hwm_kb "$(proc_kb "$CTL_PID" VmHWM)"

# Ledgers against the pods' timestamps (the allocations read first: every
# pod still runs, so a later pod LIST shows the same start times).
log "ledger exactness"
api GET "/apis/gpuquota.io/v1alpha1/gputeamallocations?labelSelector=bench%3Dbt" >"$WORK/bt-gtas.json"
cont=""
i=0
mkdir -p "$WORK/pods"
while :; do
	p="/api/v1/pods?limit=$PAGE&labelSelector=app%3Dbench-scale"
	[ -n "$cont" ] && p="$p&continue=$(jq -rn --arg c "$cont" '$c | @uri')"
	api GET "$p" --compressed >"$WORK/pods/$(printf '%05d' "$i").json"
	cont=$(jq -r '.metadata.continue // ""' "$WORK/pods/$(printf '%05d' "$i").json")
	i=$((i + 1))
	[ -n "$cont" ] || break
done
python3 bench/scale_ledger.py "$WORK/pods" "$WORK/bt-gtas.json" >"$WORK/ledger.json" ||
	die "scale_ledger.py failed"
rm -rf "$WORK/pods"
ctl_stop

# ==== report =================================================================
put n "$N"
put teams "$TEAMS"
put p2_ns "$P2_NS"
put pod_teams "$POD_TEAMS"
put ledger_interval "$LEDGER"
put resync_period "$RESYNC"
put page "$PAGE"
put nodes "$NODES"
put ncpu "$(nproc)"
read -r la _ </proc/loadavg
put loadavg_end "$la"
put duration_s "$(($(date +%s) - T_START))"
mkdir -p "$(dirname "$OUT")"
python3 bench/scale_report.py "$RES" "$WORK/ledger.json" "$OUT" "$TARGET_CATCHUP" "$TARGET_RSS_MB" \
	"$TARGET_P2" || die "scale_report.py failed"
met=$(jq -r '.all_met' "$OUT")
log "results in $OUT ($(($(date +%s) - T_START))s)"
if [ "$STRICT" = 1 ] && [ "$met" != true ]; then
	log "BENCH_STRICT=1: a target was not met"
	exit 1
fi
