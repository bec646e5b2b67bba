#!/usr/bin/env bash
# bench/run.sh - `make bench`: throughput and latency of the gpuquota
# admission webhook against nginx serving a canned response, both over TLS
# keep-alive on 127.0.0.1, side by side in one run. See bench/README.md.
#
#  1. builds build/bench/webhook_server (the controller's webhook module,
#     certs and admission handler; controller/src/*.c except main.c, listed
#     now) and build/bench/loadgen (open-loop fixed-rate client);
#  2. starts the gpuquota driver and nginx (1 worker, temporary prefix,
#     same certificate, canned copy of the gpuquota response) and checks
#     that both answer what they should;
#  3. max throughput: wrk, THREADS x CONNECTIONS, alternating rounds;
#  4. latency at a fixed rate of half the gpuquota max throughput: loadgen
#     against both servers;
#  5. extras: nginx with worker_processes auto, gpuquota on the other
#     request variants;
#  6. writes bench/results/webhook.json and prints a table.
#
# Environment: BENCH_DURATION (s of throughput per server, default 15),
# BENCH_ROUNDS (3), BENCH_LATENCY_DURATION (10), BENCH_CONNECTIONS (32),
# BENCH_THREADS (2), BENCH_PIN (0; 1: servers on CPU 0, clients on the
# others, which helps only on an otherwise idle host),
# BENCH_OUT (bench/results/webhook.json), BENCH_STRICT (1: exit 1 when a
# target is missed). Loopback only; everything it starts is stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

DUR=${BENCH_DURATION:-15}
ROUNDS=${BENCH_ROUNDS:-3}
LAT_DUR=${BENCH_LATENCY_DURATION:-10}
LAT_WARMUP=2
PAUSE_DUR=5
CONNS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-2}
PIN=${BENCH_PIN:-0}
OUT=${BENCH_OUT:-bench/results/webhook.json}
STRICT=${BENCH_STRICT:-0}
TARGET_RATIO=0.8
TARGET_P99_MS=1.0
ROUTE="/admit/pods?timeout=10s"
BODY=bench/bodies/gpu-admit.json
PKGS="libcurl yajl yaml-0.1 openssl libevent libevent_openssl libevent_pthreads"
B=build/bench
T_START=$(date +%s)

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# --- tools -------------------------------------------------------------------
need_pkgs=""
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_pkgs="$need_pkgs nginx-light"
command -v wrk >/dev/null 2>&1 || need_pkgs="$need_pkgs wrk"
command -v curl >/dev/null 2>&1 || need_pkgs="$need_pkgs curl"
command -v openssl >/dev/null 2>&1 || need_pkgs="$need_pkgs openssl"
if [ -n "$need_pkgs" ]; then
	log "installing Debian packages:$need_pkgs"
	SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
	# policy-rc.d-less hosts would start the system nginx service; ours is
	# started by hand below, so ask invoke-rc.d not to.
	$SUDO env RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need_pkgs >/dev/null ||
		die "apt-get install$need_pkgs failed"
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# --- build -------------------------------------------------------------------
WARN=(-Wall -Wextra -Werror -Wshadow -Wformat=2 -Wvla -Wstrict-prototypes)
# shellcheck disable=SC2207
PKG_CFLAGS=($(pkg-config --cflags $PKGS)) || die "pkg-config: missing $PKGS (make deps)"
# shellcheck disable=SC2207
PKG_LIBS=($(pkg-config --libs $PKGS))
CFLAGS=(-std=c11 -D_GNU_SOURCE -DGQ_VERSION='"bench"' "${WARN[@]}" -Icontroller/src -O2 -g
	"${PKG_CFLAGS[@]}")
mkdir -p "$B/obj"
rm -f "$B/failed"
objs=()
todo=()
for src in controller/src/*.c bench/webhook_server.c bench/loadgen.c; do
	[ "$src" = controller/src/main.c ] && continue
	obj="$B/obj/$(basename "$src" .c).o"
	[[ $src == controller/* ]] && objs+=("$obj")
	if [ ! "$obj" -nt "$src" ] || [ -n "$(find controller/src -name '*.h' -newer "$obj" | head -1)" ]; then
		todo+=("$obj" "$src")
	fi
done
if [ "${#todo[@]}" -gt 0 ]; then
	log "compiling $((${#todo[@]} / 2)) files"
	for ((i = 0; i < ${#todo[@]}; i += 2)); do
		(cc "${CFLAGS[@]}" -c -o "${todo[i]}" "${todo[i + 1]}" 2>"${todo[i]}.log" ||
			{
				rm -f "${todo[i]}"
				touch "$B/failed"
			}) &
		while [ "$(jobs -rp | wc -l)" -ge "$(nproc)" ]; do wait -n || true; done
	done
	wait
	if [ -e "$B/failed" ]; then
		cat "$B"/obj/*.log >&2
		die "compilation failed (another engineer may be editing controller/src: retry)"
	fi
fi
cc -o "$B/webhook_server" "$B/obj/webhook_server.o" "${objs[@]}" "${PKG_LIBS[@]}" -lpthread -lm ||
	die "link of webhook_server failed"
cc -o "$B/loadgen" "$B/obj/loadgen.o" "$B/obj/gq.o" "${PKG_LIBS[@]}" -lm || die "link of loadgen failed"

# In-process CPU cost of the handler's parts on the benchmarked body (no
# network): yajl alone, decode, whole handler.
PROFILE=$("$B/webhook_server" --profile "$BODY" | grep '^PROFILE ' | cut -d' ' -f2-) ||
	die "webhook_server --profile failed"

# --- processes and clean-up --------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gq-bench.XXXXXX")
chmod 755 "$WORK"
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do
		for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

NCPU=$(nproc)
PIN_S=()
PIN_C=()
if [ "$PIN" = 1 ] && [ "$NCPU" -ge 2 ] && command -v taskset >/dev/null 2>&1; then
	PIN_S=(taskset -c 0)
	PIN_C=(taskset -c "1-$((NCPU - 1))")
else
	PIN=0
fi

# A TCP port on 127.0.0.1 nobody listens on.
free_port() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# Nanoseconds the given pids have run and waited on a run queue so far
# (/proc/PID/schedstat): "run_ns wait_ns".
sched_ns() {
	local p run wait r=0 w=0
	for p in "$@"; do
		read -r run wait _ <"/proc/$p/schedstat" 2>/dev/null || continue
		r=$((r + run))
		w=$((w + wait))
	done
	echo "$r $w"
}
# Percentages of wall time (ns) $3 for the deltas between "run wait" pairs
# $1 and $2: "cpu_pct wait_pct".
sched_pct() {
	awk -v a="$1" -v b="$2" -v w="$3" 'BEGIN{split(a, x, " "); split(b, y, " ");
		printf "%.1f %.1f", 100 * (y[1] - x[1]) / w, 100 * (y[2] - x[2]) / w}'
}
# Children of pid (nginx workers).
children() {
	local s line rest f
	for s in /proc/[0-9]*/stat; do
		line=$(cat "$s" 2>/dev/null) || continue
		rest=${line##*) }
		read -r -a f <<<"$rest"
		[ "${f[1]}" = "$1" ] && basename "$(dirname "$s")"
	done
	return 0
}

# Value of numeric field $2 in a one-line JSON object $1.
jnum() { grep -o "\"$2\":-\\?[0-9.]*" <<<"$1" | head -1 | cut -d: -f2; }

# --- gpuquota driver ---------------------------------------------------------
mkdir -p "$WORK/gq"
"${PIN_S[@]}" "$B/webhook_server" --dir "$WORK/gq" 2>"$WORK/gq/log" &
GQ_PID=$!
PIDS+=("$GQ_PID")
for _ in $(seq 100); do
	[ -s "$WORK/gq/port" ] && break
	kill -0 "$GQ_PID" 2>/dev/null || break
	sleep 0.1
done
[ -s "$WORK/gq/port" ] || {
	cat "$WORK/gq/log" >&2
	die "webhook_server did not start"
}
GQ_PORT=$(tr -d '\n' <"$WORK/gq/port")
CA="$WORK/gq/ca.pem"

# POST body file $2 to port $1; prints the response body, fails unless 200.
post() {
	local code
	code=$(curl -sS --max-time 5 --cacert "$CA" -o "$WORK/resp" -w '%{http_code}' \
		-H 'Content-Type: application/json' --data-binary "@$2" "https://127.0.0.1:$1$ROUTE") ||
		return 1
	[ "$code" = 200 ] || {
		log "HTTP $code from port $1"
		return 1
	}
	cat "$WORK/resp"
}

# The three paths answer what they should (certificate verified by curl).
r=$(post "$GQ_PORT" bench/bodies/gpu-admit.json) || die "gpu-admit request failed"
grep -q '"allowed":true' <<<"$r" && grep -q '"patchType":"JSONPatch"' <<<"$r" &&
	grep -q '"warnings":\[' <<<"$r" || die "gpu-admit: expected allowed + patch + warning, got: $r"
GQ_RESPONSE=$r
r=$(post "$GQ_PORT" bench/bodies/cpu-pass.json) || die "cpu-pass request failed"
grep -q '"allowed":true' <<<"$r" && ! grep -q '"patch"' <<<"$r" ||
	die "cpu-pass: expected allowed without patch, got: $r"
r=$(post "$GQ_PORT" bench/bodies/gpu-deny.json) || die "gpu-deny request failed"
grep -q '"allowed":false' <<<"$r" && grep -q '"code":403' <<<"$r" ||
	die "gpu-deny: expected a 403 denial, got: $r"

# --- nginx -------------------------------------------------------------------
case $GQ_RESPONSE in *'$'*) die "the canned response holds a '\$', which nginx would expand" ;; esac
esc=${GQ_RESPONSE//\\/\\\\}
esc=${esc//\'/\\\'}

# Starts nginx with $1 workers under prefix $2; sets NGX_PID and NGX_PORT.
start_nginx() {
	local workers=$1 prefix=$2
	mkdir -p "$prefix/tmp"
	NGX_PORT=$(free_port) || die "no free port"
	printf "return 200 '%s';\n" "$esc" >"$prefix/response.conf"
	sed -e "s|@PREFIX@|$prefix|g" -e "s|@PORT@|$NGX_PORT|g" -e "s|@WORKERS@|$workers|g" \
		-e "s|@CERT@|$WORK/gq/tls.crt|g" -e "s|@KEY@|$WORK/gq/tls.key|g" \
		bench/nginx.conf.in >"$prefix/nginx.conf"
	"$NGINX" -t -q -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/error.log" ||
		die "nginx -t failed: $(cat "$prefix/error.log")"
	if [ "$workers" = 1 ]; then
		"${PIN_S[@]}" "$NGINX" -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/error.log" &
	else
		"$NGINX" -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/error.log" &
	fi
	NGX_PID=$!
	PIDS+=("$NGX_PID")
	for _ in $(seq 50); do
		(exec 3<>"/dev/tcp/127.0.0.1/$NGX_PORT") 2>/dev/null && return 0
		kill -0 "$NGX_PID" 2>/dev/null || break
		sleep 0.1
	done
	die "nginx did not start: $(cat "$prefix/error.log")"
}
stop_pid() {
	kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

start_nginx 1 "$WORK/nginx1"
N1_PID=$NGX_PID
N1_PORT=$NGX_PORT
r=$(post "$N1_PORT" "$BODY") || die "nginx request failed"
[ "$r" = "$GQ_RESPONSE" ] || die "nginx does not answer the gpuquota response"

# Negotiated protocol and cipher, for the record.
tls_of() {
	openssl s_client -connect "127.0.0.1:$1" -CAfile "$CA" -alpn http/1.1 </dev/null 2>/dev/null |
		awk -F': ' '/^New, /{split($0, a, ", "); v=a[2]; sub(/Cipher is /, "", a[3]); c=a[3]}
			/Protocol *:/{p=$2} END{print (p ? p : v) " " c}'
}
TLS_GQ=$(tls_of "$GQ_PORT")
TLS_NG=$(tls_of "$N1_PORT")

# --- measurement helpers -----------------------------------------------------
# wrk against port $1 for $2 seconds with body $3; server pids in $4..;
# prints "rps cpu_pct wait_pct p50_us p99_us errors" (server CPU use and
# time its threads were ready but waiting for a CPU, in % of wall time).
run_wrk() {
	local port=$1 secs=$2 body=$3 out t0 t1 c0 c1 js req dur errs
	shift 3
	c0=$(sched_ns "$@")
	t0=$(date +%s%N)
	out=$(BENCH_BODY="$body" "${PIN_C[@]}" wrk -t"$THREADS" -c"$CONNS" -d"${secs}s" --timeout 2s \
		-s bench/post.lua "https://127.0.0.1:$port$ROUTE" 2>&1) || die "wrk failed: $out"
	t1=$(date +%s%N)
	c1=$(sched_ns "$@")
	js=$(grep '^WRKJSON ' <<<"$out" | cut -d' ' -f2-) || die "no wrk summary: $out"
	req=$(jnum "$js" requests)
	dur=$(jnum "$js" duration_us)
	errs=$(($(jnum "$js" err_connect) + $(jnum "$js" err_read) + $(jnum "$js" err_write) +
		$(jnum "$js" err_status) + $(jnum "$js" err_timeout)))
	awk -v r="$req" -v d="$dur" -v s="$(sched_pct "$c0" "$c1" $((t1 - t0)))" \
		-v p50="$(jnum "$js" lat_p50_us)" -v p99="$(jnum "$js" lat_p99_us)" -v e="$errs" \
		'BEGIN{printf "%.1f %s %d %d %d\n", r / (d / 1e6), s, p50, p99, e}'
}
# loadgen against port $1 at rate $2; server pids in $3..; prints its JSON
# line with "server_cpu_pct" and "server_wait_pct" added.
run_lat() {
	local port=$1 rate=$2 out c0 c1 t0 t1 cpu wait
	shift 2
	c0=$(sched_ns "$@")
	t0=$(date +%s%N)
	out=$("${PIN_C[@]}" "$B/loadgen" --port "$port" --path "$ROUTE" --body "$BODY" --cafile "$CA" \
		--rate "$rate" --duration "$LAT_DUR" --warmup "$LAT_WARMUP" --connections "$CONNS") ||
		die "loadgen failed"
	t1=$(date +%s%N)
	c1=$(sched_ns "$@")
	read -r cpu wait <<<"$(sched_pct "$c0" "$c1" $((t1 - t0)))"
	out=$(grep '^LOADGEN ' <<<"$out" | cut -d' ' -f2-)
	echo "${out%\}},\"server_cpu_pct\":$cpu,\"server_wait_pct\":$wait}"
}
ms() { awk -v u="$1" 'BEGIN{printf "%.3f", u / 1000}'; }

read -r LOAD_BEFORE _ </proc/loadavg
# Host CPU use by others over one second before we start (all cores).
busy_of() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6}' /proc/stat; }
read -r b0 i0 <<<"$(busy_of)"
sleep 1
read -r b1 i1 <<<"$(busy_of)"
HOST_BUSY=$(awk -v b=$((b1 - b0)) -v i=$((i1 - i0)) 'BEGIN{printf "%.1f", (b + i) ? 100 * b / (b + i) : 0}')
[ "${HOST_BUSY%.*}" -lt 10 ] ||
	log "warning: the host is already ${HOST_BUSY}% busy (other processes): latencies will be noisy"
# Pauses of a thread that never blocks (preemption by others or by the
# hypervisor), which a server suffers alike: they set the latency tail.
log "host pauses (${PAUSE_DUR}s)"
PAUSES=$("$B/loadgen" --pauses "$PAUSE_DUR" | grep '^PAUSES ' | cut -d' ' -f2-) ||
	die "loadgen --pauses failed"
N1_PIDS() { children "$N1_PID"; }

# --- 1. max throughput -------------------------------------------------------
per=$(((DUR + ROUNDS - 1) / ROUNDS))
log "warm-up"
run_wrk "$GQ_PORT" 2 "$BODY" "$GQ_PID" >/dev/null
# shellcheck disable=SC2046
run_wrk "$N1_PORT" 2 "$BODY" $(N1_PIDS) >/dev/null
gq_rounds=()
ng_rounds=()
gq_cpu=()
ng_cpu=()
gq_wait=()
ng_wait=()
gq_sat=()
ng_sat=()
errors=0
for ((k = 1; k <= ROUNDS; k++)); do
	for who in gq ng; do
		# Alternate the order so that drift hits both alike.
		if [ $((k % 2)) = 0 ]; then [ "$who" = gq ] && who=ng || who=gq; fi
		log "throughput round $k/$ROUNDS: $who (${per}s, $THREADS threads x $CONNS connections)"
		if [ "$who" = gq ]; then
			res=$(run_wrk "$GQ_PORT" "$per" "$BODY" "$GQ_PID")
			read -r rps cpu wait p50 p99 e <<<"$res"
			gq_rounds+=("$rps") gq_cpu+=("$cpu") gq_wait+=("$wait") gq_sat+=("$p50/$p99")
		else
			# shellcheck disable=SC2046
			res=$(run_wrk "$N1_PORT" "$per" "$BODY" $(N1_PIDS))
			read -r rps cpu wait p50 p99 e <<<"$res"
			ng_rounds+=("$rps") ng_cpu+=("$cpu") ng_wait+=("$wait") ng_sat+=("$p50/$p99")
		fi
		errors=$((errors + e))
	done
done
mean() { printf '%s\n' "$@" | awk '{s += $1} END{printf "%.1f", s / NR}'; }
list() {
	local IFS=,
	echo "$*"
}
GQ_RPS=$(mean "${gq_rounds[@]}")
NG_RPS=$(mean "${ng_rounds[@]}")
GQ_CPU=$(mean "${gq_cpu[@]}")
NG_CPU=$(mean "${ng_cpu[@]}")
GQ_WAIT=$(mean "${gq_wait[@]}")
NG_WAIT=$(mean "${ng_wait[@]}")
RATE=$(awk -v r="$GQ_RPS" 'BEGIN{printf "%d", r / 2}')
[ "$RATE" -ge 1 ] || die "gpuquota throughput is 0"

# --- 2. latency at a fixed rate ----------------------------------------------
log "latency at $RATE req/s: gpuquota (${LAT_WARMUP}s warm-up + ${LAT_DUR}s)"
GQ_LAT=$(run_lat "$GQ_PORT" "$RATE" "$GQ_PID")
log "latency at $RATE req/s: nginx"
# shellcheck disable=SC2046
NG_LAT=$(run_lat "$N1_PORT" "$RATE" $(N1_PIDS))
stop_pid "$N1_PID"

# --- 3. extras ---------------------------------------------------------------
log "nginx worker_processes auto (${per}s)"
start_nginx auto "$WORK/nginx-auto"
NA_PID=$NGX_PID
NA_WORKERS=$(children "$NA_PID" | wc -l)
# shellcheck disable=SC2046
res=$(run_wrk "$NGX_PORT" "$per" "$BODY" $(children "$NA_PID"))
read -r NA_RPS NA_CPU NA_WAIT _ _ e <<<"$res"
errors=$((errors + e))
stop_pid "$NA_PID"
declare -A VAR_RPS
for v in cpu-pass gpu-deny; do
	log "gpuquota, request $v (${per}s)"
	res=$(run_wrk "$GQ_PORT" "$per" "bench/bodies/$v.json" "$GQ_PID")
	read -r rps _ _ _ _ e <<<"$res"
	VAR_RPS[$v]=$rps
	errors=$((errors + e))
done
read -r LOAD_AFTER _ </proc/loadavg

stop_pid "$GQ_PID"
GQ_STATS=$(grep 'requests=' "$WORK/gq/log" | tail -1 | sed 's/^webhook_server: //')

# --- 4. results --------------------------------------------------------------
GQ_P50=$(ms "$(jnum "$GQ_LAT" p50_us)")
GQ_P99=$(ms "$(jnum "$GQ_LAT" p99_us)")
NG_P50=$(ms "$(jnum "$NG_LAT" p50_us)")
NG_P99=$(ms "$(jnum "$NG_LAT" p99_us)")
RATIO=$(awk -v a="$GQ_RPS" -v b="$NG_RPS" 'BEGIN{printf "%.3f", a / b}')
RATIO_AUTO=$(awk -v a="$GQ_RPS" -v b="$NA_RPS" 'BEGIN{printf "%.3f", a / b}')
MET_RATIO=$(awk -v r="$RATIO" -v t="$TARGET_RATIO" 'BEGIN{print (r >= t) ? "true" : "false"}')
MET_P99=$(awk -v p="$GQ_P99" -v t="$TARGET_P99_MS" -v i="$(jnum "$GQ_LAT" incomplete)" \
	-v e="$(jnum "$GQ_LAT" errors)" 'BEGIN{print (p <= t && i == 0 && e == 0) ? "true" : "false"}')
MET_ALL=$([ "$MET_RATIO" = true ] && [ "$MET_P99" = true ] && echo true || echo false)
NG_BOUND=$(awk -v c="$NG_CPU" 'BEGIN{print (c < 90) ? "true" : "false"}')
# Caveats that bear on reading the figures.
caveats=()
[ "$NG_BOUND" = true ] && caveats+=("\"nginx (1 worker) used ${NG_CPU}% of a core at full speed: the load generator, not nginx, was the limit, so nginx's real capacity is higher and ratio_rps is optimistic\"")
[ "${HOST_BUSY%.*}" -ge 10 ] && caveats+=("\"the host was ${HOST_BUSY}% busy with other processes before the bench\"")
GQ_LWAIT=$(jnum "$GQ_LAT" server_wait_pct)
[ "${GQ_LWAIT%.*}" -ge 5 ] && caveats+=("\"during the latency run the gpuquota server waited ${GQ_LWAIT}% of the time for a CPU (contention from the load generator or other processes): its p99 includes those scheduling delays\"")
# Server CPU microseconds per request at full speed, and the handler's share.
us_per() { awk -v c="$1" -v r="$2" 'BEGIN{printf "%.1f", (r > 0) ? c / 100 / r * 1e6 : 0}'; }
GQ_US=$(us_per "$GQ_CPU" "$GQ_RPS")
NG_US=$(us_per "$NG_CPU" "$NG_RPS")
P_YAJL=$(jnum "$PROFILE" yajl_parse_us)
P_DEC=$(jnum "$PROFILE" decode_us)
P_HAND=$(jnum "$PROFILE" handler_us)
GQ_TRANSPORT_US=$(awk -v a="$GQ_US" -v b="$P_HAND" 'BEGIN{printf "%.1f", a - b}')
P_OVER1=$(jnum "$PAUSES" over_1ms)
P_MAX=$(jnum "$PAUSES" max_us)
[ "${P_OVER1:-0}" -gt 0 ] && caveats+=("\"a thread that never blocks was paused $P_OVER1 times for more than 1 ms in ${PAUSE_DUR}s on this host (longest $(ms "$P_MAX") ms) before the bench: each such pause holds every request in flight, and at the latency run's rate a few dozen of them reach the p99\"")
CPU_MODEL=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo | sed 's/"/\\"/g')
WRK_VER=$(wrk -v 2>&1 | awk 'NR == 1 {print $2}' || true)
NGX_VER=$("$NGINX" -v 2>&1 | sed 's/.*nginx\///')

mkdir -p "$(dirname "$OUT")"
cat >"$OUT.tmp" <<EOF
{
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "commit": "$(git describe --always --dirty 2>/dev/null || echo unknown)",
  "machine": {"cores": $NCPU, "cpu": "$CPU_MODEL", "kernel": "$(uname -r)",
    "loadavg_before": $LOAD_BEFORE, "pauses": $PAUSES, "loadavg_after": $LOAD_AFTER, "host_busy_pct_before": $HOST_BUSY,
    "note": "server and load generator share this machine's $NCPU cores$([ "$PIN" = 1 ] && echo ": servers pinned to CPU 0, clients to CPUs 1-$((NCPU - 1)) (taskset); nginx auto unpinned"); other processes on the host are not stopped (host_busy_pct_before: their CPU use in the second before the bench; server_wait_pct: time the server was runnable but waiting for a CPU)"},
  "tool": {"throughput": "wrk $WRK_VER (Debian), $THREADS threads x $CONNS connections, POST via bench/post.lua, $ROUNDS alternating rounds of ${per}s per server",
    "latency": "bench/loadgen (open loop, constant rate over $CONNS keep-alive connections, latency from each request's scheduled send time to the end of its response, i.e. corrected for coordinated omission; ${LAT_WARMUP}s warm-up then ${LAT_DUR}s measured)",
    "nginx": "nginx $NGX_VER (Debian), return 200 with the gpuquota response bytes, keepalive_requests 1000000, access_log off"},
  "request": {"body": "$BODY", "body_bytes": $(wc -c <"$BODY"), "response_bytes": ${#GQ_RESPONSE}, "path": "$ROUTE",
    "tls_gpuquota": "$TLS_GQ", "tls_nginx": "$TLS_NG"},
  "gpuquota": {"threads": 1, "rps": $GQ_RPS, "rps_rounds": [$(list "${gq_rounds[@]}")], "server_cpu_pct": $GQ_CPU, "server_wait_pct": $GQ_WAIT,
    "saturated_p50_p99_us": "$(list "${gq_sat[@]}")",
    "rate_for_latency": $RATE, "p50_ms": $GQ_P50, "p99_ms": $GQ_P99,
    "latency": $GQ_LAT,
    "rps_by_request": {"gpu-admit": $GQ_RPS, "cpu-pass": ${VAR_RPS[cpu-pass]}, "gpu-deny": ${VAR_RPS[gpu-deny]}},
    "server_counters": "$GQ_STATS"},
  "nginx": {"worker_processes": 1, "rps": $NG_RPS, "rps_rounds": [$(list "${ng_rounds[@]}")], "server_cpu_pct": $NG_CPU, "server_wait_pct": $NG_WAIT,
    "client_bound": $NG_BOUND, "saturated_p50_p99_us": "$(list "${ng_sat[@]}")",
    "rate_for_latency": $RATE, "p50_ms": $NG_P50, "p99_ms": $NG_P99,
    "latency": $NG_LAT},
  "cpu_us_per_request": {"gpuquota": $GQ_US, "nginx": $NG_US,
    "gpuquota_handler": $P_HAND, "gpuquota_decode": $P_DEC, "yajl_parse_alone": $P_YAJL,
    "gpuquota_tls_http_syscalls": $GQ_TRANSPORT_US,
    "note": "server CPU time per request at full speed (server_cpu_pct / rps); the handler figures are measured in-process on the same body without network (webhook_server --profile, best of 5 x 20000 calls): yajl_parse_alone is yajl tokenizing the body with no callbacks, the least any yajl-based decoder pays; gpuquota_tls_http_syscalls is the difference between the two. nginx discards the body unparsed."},
  "nginx_auto": {"worker_processes": "auto ($NA_WORKERS)", "rps": $NA_RPS, "server_cpu_pct": $NA_CPU, "server_wait_pct": $NA_WAIT},
  "wrk_errors": $errors,
  "ratio_rps": $RATIO,
  "ratio_rps_vs_nginx_auto": $RATIO_AUTO,
  "targets": {"ratio_rps_min": $TARGET_RATIO, "p99_ms_max": $TARGET_P99_MS},
  "met": {"ratio_rps": $MET_RATIO, "p99_ms": $MET_P99, "all": $MET_ALL},
  "caveats": [$(list "${caveats[@]}")],
  "elapsed_s": $(($(date +%s) - T_START))
}
EOF
mv "$OUT.tmp" "$OUT"

yn() { [ "$1" = true ] && echo yes || echo NO; }
printf '\n'
printf 'webhook benchmark: %s cores (%s), TLS keep-alive on 127.0.0.1, body %s bytes\n' \
	"$NCPU" "$([ "$PIN" = 1 ] && echo "server on CPU 0, clients on the rest" || echo unpinned)" "$(wc -c <"$BODY")"
printf '%-20s %10s %8s %8s | %8s %8s %8s %8s %8s\n' server "max req/s" "srv CPU" "CPUwait" \
	"at req/s" "p50 ms" "p99 ms" "srv CPU" "CPUwait"
row() { printf '%-20s %10s %7s%% %7s%% | %8s %8s %8s %7s%% %7s%%\n' "$@"; }
row "gpuquota (1 thread)" "$GQ_RPS" "$GQ_CPU" "$GQ_WAIT" "$RATE" "$GQ_P50" "$GQ_P99" \
	"$(jnum "$GQ_LAT" server_cpu_pct)" "$(jnum "$GQ_LAT" server_wait_pct)"
row "nginx (1 worker)" "$NG_RPS" "$NG_CPU" "$NG_WAIT" "$RATE" "$NG_P50" "$NG_P99" \
	"$(jnum "$NG_LAT" server_cpu_pct)" "$(jnum "$NG_LAT" server_wait_pct)"
row "nginx (auto: $NA_WORKERS)" "$NA_RPS" "$NA_CPU" "$NA_WAIT" - - - - -
printf '(srv CPU: CPU time used by the server; CPUwait: time its threads were runnable but waiting\n'
printf ' for a CPU, both in %% of wall time; the left half is wrk at full speed, the right half\n'
printf ' bench/loadgen at a fixed rate of half the gpuquota maximum)\n'
printf 'gpuquota by request: gpu-admit %s, cpu-pass %s, gpu-deny %s req/s\n' \
	"$GQ_RPS" "${VAR_RPS[cpu-pass]}" "${VAR_RPS[gpu-deny]}"
printf 'server CPU per request: gpuquota %s us (handler %s us, of which yajl alone %s us; TLS, HTTP\n' \
	"$GQ_US" "$P_HAND" "$P_YAJL"
printf ' and system calls %s us); nginx %s us (TLS, HTTP and system calls; the body is not parsed)\n' \
	"$GQ_TRANSPORT_US" "$NG_US"
printf 'throughput ratio gpuquota/nginx(1 worker) %s (target >= %s): %s\n' "$RATIO" "$TARGET_RATIO" "$(yn "$MET_RATIO")"
printf 'gpuquota p99 at %s req/s %s ms (target <= %s ms): %s\n' "$RATE" "$GQ_P99" "$TARGET_P99_MS" "$(yn "$MET_P99")"
[ "$NG_BOUND" = true ] && printf 'note: nginx used %s%% of its core: the client, not nginx, limited its throughput\n' "$NG_CPU"
printf 'host pauses before the bench: %s over 1 ms in %ss, longest %s ms (they set the latency tail)\n' \
	"$P_OVER1" "$PAUSE_DUR" "$(ms "$P_MAX")"
printf 'wrk errors %s; host %s%% busy before the bench, load average %s before, %s after\n' \
	"$errors" "$HOST_BUSY" "$LOAD_BEFORE" "$LOAD_AFTER"
printf 'results in %s (%ss)\n' "$OUT" "$(($(date +%s) - T_START))"
if [ "$STRICT" = 1 ] && [ "$MET_ALL" != true ]; then
	exit 1
fi
exit 0
