# e2e: the webhook against hostile clients, over TLS on loopback, against
# the real controller binary (test/e2e/webhook_hostile.py drives the
# clients; every phase is bounded in connections and time). Figures are
# printed for the commit message and README, not asserted as timings.

# The webhook CA the controller keeps in its Secret, into a file.
hostile_ca() {
	$KUBECTL -n gpuquota-system get secret gpuquota-webhook-tls \
		-o jsonpath='{.data.ca\.crt}' | base64 -d >"$1"
}

# kv OUTPUT KEY: a key=value figure from webhook_hostile.py's output.
kv() { sed -n "s/^$2=//p" <<<"$1"; }

# Bound on the controller's RSS under the attack (kB): the Deployment's
# memory limit (manifests/deployment.yaml) keeps headroom above it.
HOSTILE_RSS_MAX_KB=$((160 * 1024))

test_webhook_hostile_clients() {
	local ca out pid
	controller_stop
	controller_start
	pid=$(cat "$CTL_PIDFILE")
	ca=$(mktemp)
	hostile_ca "$ca"
	out=$(python3 "$ROOT/test/e2e/webhook_hostile.py" "$CTL_WEBHOOK_PORT" "$ca" "$pid" attack)
	rm -f "$ca"
	sed 's/^/    /' <<<"$out"
	# silent connections (no TLS handshake) are closed by the 5 s deadline
	assert_eq "$(kv "$out" silent_closed)" 100 "silent connections closed"
	# slow heads: at most the cap is held, none outlives the head deadline
	[ "$(kv "$out" slowhead_held_after_first_byte)" -le 256 ] ||
		fail "more slow heads held than --webhook-max-connections"
	assert_eq "$(kv "$out" slowhead_still_open_after_15s)" 0 "slow heads left open"
	# partial bodies: refused past the buffered budget, the rest cut by the
	# request deadline
	[ "$(kv "$out" bodies_cut)" -ge 1 ] || fail "no partial body was refused"
	assert_eq "$(kv "$out" bodies_open_after_deadline)" 0 "partial bodies left open"
	[ "$(kv "$out" rss_peak_kb)" -lt "$HOSTILE_RSS_MAX_KB" ] ||
		fail "RSS under attack $(kv "$out" rss_peak_kb) kB over $HOSTILE_RSS_MAX_KB kB"
	[ "$(kv "$out" vmhwm_kb)" -lt "$HOSTILE_RSS_MAX_KB" ] ||
		fail "peak RSS $(kv "$out" vmhwm_kb) kB over $HOSTILE_RSS_MAX_KB kB"
	# valid reviews kept being answered on the keep-alive connection
	[ "$(kv "$out" valid_during_n)" -ge 20 ] || fail "too few valid reviews answered during the attack"
	# and all are answered afterwards, on new connections
	assert_eq "$(kv "$out" valid_after_n)" 50 "valid reviews answered after the attack"
	controller_running || fail "the controller died"
}

test_webhook_descriptor_exhaustion() {
	local ca out pid lines0 lines1
	controller_stop
	# a low descriptor limit: the connections below exhaust it
	(
		ulimit -n 64
		controller_start
	)
	pid=$(cat "$CTL_PIDFILE")
	ca=$(mktemp)
	hostile_ca "$ca"
	lines0=$(grep -c "accept failed" "$CTL_LOG" || true)
	out=$(python3 "$ROOT/test/e2e/webhook_hostile.py" "$CTL_WEBHOOK_PORT" "$ca" "$pid" emfile)
	rm -f "$ca"
	lines1=$(grep -c "accept failed" "$CTL_LOG" || true)
	sed 's/^/    /' <<<"$out"
	echo "    emfile_log_lines=$((lines1 - lines0))"
	[ $((lines1 - lines0)) -ge 1 ] || fail "descriptors were not exhausted (no accept failure logged)"
	[ $((lines1 - lines0)) -le 3 ] || fail "$((lines1 - lines0)) accept-failure lines in 6 s (flood; one per listener at most)"
	[ "$(kv "$out" emfile_cpu_pct)" -lt 30 ] || fail "the controller spun: $(kv "$out" emfile_cpu_pct)% CPU"
	assert_eq "$(kv "$out" emfile_after_n)" 20 "valid reviews answered once descriptors are back"
	controller_running || fail "the controller died"
	controller_stop
	controller_start
}
