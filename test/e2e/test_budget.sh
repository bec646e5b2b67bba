# e2e: GPU-hour budgets -- the ledger, the three onExhausted policies, the
# admission webhook registered with the real apiserver over TLS, and the
# quota clamp that keeps Deny working without the webhook.

# budget_team NAME NS POLICY GPU_HOURS PERIOD [WARN]
budget_team() {
	apply_team "$1" "  namespaces: [$2]
  quota: {gpus: 8}
  priorities:
    tiers: [{name: work, value: 1000}, {name: serve, value: 50000}]
    defaultTier: work
  budget: {gpuHours: \"$4\", period: \"$5\", onExhausted: $3, warnAtPercent: ${6:-80}, exemptTiers: [serve]}"
}

exhausted() { cond_is "$1" BudgetExhausted True; }

# webhook_serves NS CLASS: the apiserver calls our webhook for GPU pods of NS
# (a server-side dry run comes back with the team's default class). A
# namespace's team label takes a moment to reach the apiserver's webhook
# namespaceSelector.
webhook_serves() {
	[ "$(gpu_pod_yaml "$1" probe 1 | $KUBECTL apply --dry-run=server -o jsonpath='{.spec.priorityClassName}' -f - 2>/dev/null)" = "$2" ]
}

# spend TEAM NS: runs a 2-GPU pod for 3 s (6 GPU-seconds) and waits until
# the team's budget is exhausted.
spend() {
	gpu_pod_yaml "$2" spender 2 3s | $KUBECTL apply -f - >/dev/null
	wait_for 40 exhausted "$1"
}

test_budget_a_deny_with_message_and_clamp() {
	controller_start
	new_ns e2e-bdeny
	budget_team bdeny e2e-bdeny Deny 0.001 Monthly
	wait_for 30 team_ready bdeny
	wait_for 30 webhook_serves e2e-bdeny bdeny-work
	spend bdeny e2e-bdeny
	local out
	out=$(gpu_pod_yaml e2e-bdeny late 1 | $KUBECTL apply -f - 2>&1) && fail "GPU pod admitted: $out"
	assert_contains "$out" 'admission webhook "pods.gpuquota.io" denied the request' "webhook denial"
	assert_contains "$out" "team bdeny has used" "message names the team"
	assert_contains "$out" "of its 0.001 GPU-hours budget" "message gives the budget"
	assert_contains "$out" "$(date -u -d "$(date -u +%Y-%m-01) +1 month" +%Y-%m-%dT00:00:00Z)" \
		"message gives the reset time"
	# Exempt tiers and CPU pods still run.
	tier_pod e2e-bdeny serve 1 bdeny-serve | $KUBECTL apply -f - >/dev/null
	wait_for 30 phase_is e2e-bdeny serve Running
	# Defense in depth: a quota refusing GPUs to every non-exempt pod.
	wait_for 30 rq_hard_is e2e-bdeny gpuquota-bdeny-budget requests.nvidia.com/gpu 0
	assert_eq "$(jp resourcequota/gpuquota-bdeny-budget '{.spec.scopeSelector.matchExpressions[0].values}' e2e-bdeny)" \
		'["bdeny-serve"]' "guard spares the exempt tier"
	assert_eq "$(jp gta/bdeny '{.status.state}')" BudgetExhausted "state"
	assert_contains "$($KUBECTL get gta bdeny)" "/0.001" "GPU-HOURS column"
	assert_contains "$($KUBECTL get events -A --field-selector involvedObject.name=bdeny -o jsonpath='{.items[*].reason}')" \
		BudgetExhausted "exhaustion event"
}

# deadline_pod NS NAME SECONDS: a 1-GPU pod with activeDeadlineSeconds.
deadline_pod() {
	cat <<Y
apiVersion: v1
kind: Pod
metadata: {name: $2, namespace: $1}
spec:
  activeDeadlineSeconds: $3
  containers:
  - name: main
    image: registry.example/train:1
    resources: {limits: {nvidia.com/gpu: "1"}}
Y
}

# Between status writes the usage is live where it is used: with a GPU pod
# running and the default --ledger-write-interval (60 s), the allocation's
# status is written at most twice in a minute, while /metrics and the
# webhook's decisions follow the usage every ledger pass (1 s here).
test_budget_i_live_usage_between_status_writes() {
	local events=$CLUSTER_DIR/blive-watch.txt out m0 m1 writes wpid
	controller_start
	new_ns e2e-blive
	# 180 GPU-s; the warning at 95 % (171 GPU-s): no threshold in the window.
	budget_team blive e2e-blive Deny 0.05 Monthly 95
	wait_for 30 team_ready blive
	wait_for 30 webhook_serves e2e-blive blive-work
	gpu_pod_yaml e2e-blive burner 1 | $KUBECTL apply -f - >/dev/null
	wait_for 30 phase_is e2e-blive burner Running
	sleep 3 # the status shows the pod's quota use
	# 150 s at 1 GPU fits the budget now...
	out=$(deadline_pod e2e-blive probe 150 | $KUBECTL apply --dry-run=server -f - 2>&1) ||
		fail "a pod whose deadline fits the budget was refused: $out"
	$KUBECTL get gta blive --watch-only -o jsonpath='{.metadata.resourceVersion}{"\n"}' \
		>"$events" 2>/dev/null &
	wpid=$!
	m0=$(metric 'gpuquota_team_used_gpu_seconds{team="blive"}')
	sleep 45
	m1=$(metric 'gpuquota_team_used_gpu_seconds{team="blive"}')
	# ...and no longer 45 s later: admission decides from the live figure.
	out=$(deadline_pod e2e-blive probe 150 | $KUBECTL apply --dry-run=server -f - 2>&1) &&
		fail "a pod whose deadline no longer fits was admitted: $out"
	assert_contains "$out" "more than the" "expected-cost denial"
	assert_contains "$out" "GPU-hours left of team blive's budget" "expected-cost denial names the team"
	sleep 15
	kill "$wpid" 2>/dev/null || true
	wait "$wpid" 2>/dev/null || true
	writes=$(grep -c . "$events" || true)
	echo "    status writes in 60 s with a pod running: $writes; /metrics used $m0 -> $m1 GPU-s over 45 s"
	[ "$writes" -le 2 ] || fail "the status was written $writes times in 60 s"
	awk -v a="$m0" -v b="$m1" 'BEGIN { exit !(b - a >= 40 && b - a <= 50) }' ||
		fail "/metrics did not follow the usage: $m0 -> $m1 GPU-s in 45 s"
	$KUBECTL delete pod -n e2e-blive burner --wait=false >/dev/null
}

test_budget_b_deny_holds_without_webhook() {
	controller_start
	wait_for 30 exhausted bdeny
	wait_for 30 quota_synced e2e-bdeny gpuquota-bdeny-budget
	controller_stop
	local out
	out=$(gpu_pod_yaml e2e-bdeny nowebhook 1 "" bdeny-work | $KUBECTL apply -f - 2>&1) &&
		fail "GPU pod admitted with the webhook down: $out"
	assert_contains "$out" "exceeded quota: gpuquota-bdeny-budget" "quota refuses it"
	controller_start
}

test_budget_c_hold_until_rollover() {
	controller_start
	new_ns e2e-bhold
	# A 1-minute period: the held pod is released at the next rollover.
	budget_team bhold e2e-bhold Hold 0.001 1m
	wait_for 30 team_ready bhold
	wait_for 30 webhook_serves e2e-bhold bhold-work
	spend bhold e2e-bhold
	local out
	out=$(gpu_pod_yaml e2e-bhold waiting 1 | $KUBECTL apply -f - 2>&1)
	assert_contains "$out" "Warning:" "kubectl prints the webhook warning"
	assert_eq "$(jp pod/waiting '{.spec.schedulingGates[*].name}' e2e-bhold)" gpuquota.io/budget "gate"
	sleep 3
	assert_eq "$(pod_phase e2e-bhold waiting)" Pending "held pod waits"
	# Released after the rollover (at most a minute), then runs.
	wait_for 90 phase_is e2e-bhold waiting Running
	assert_eq "$(jp pod/waiting '{.spec.schedulingGates}' e2e-bhold)" "" "gate removed"
	[ "$($KUBECTL get gta bhold -o jsonpath='{.status.history[0].usedMicroGPUSeconds}')" -ge 6000000 ] ||
		fail "the spent period went to history"
}

test_budget_d_deprioritize() {
	controller_start
	new_ns e2e-bdep
	budget_team bdep e2e-bdep Deprioritize 0.001 Monthly
	wait_for 30 team_ready bdep
	wait_for 30 webhook_serves e2e-bdep bdep-work
	assert_eq "$(jp priorityclass/bdep-over-budget '{.value} {.preemptionPolicy}')" "-1 Never" \
		"over-budget class"
	spend bdep e2e-bdep
	local out
	out=$(tier_pod e2e-bdep cheap 1 bdep-work | $KUBECTL apply -f - 2>&1)
	assert_contains "$out" "Warning:" "kubectl prints the webhook warning"
	assert_eq "$(jp pod/cheap '{.spec.priorityClassName} {.spec.priority} {.spec.preemptionPolicy}' e2e-bdep)" \
		"bdep-over-budget -1 Never" "pod switched to the over-budget class"
	wait_for 30 phase_is e2e-bdep cheap Running
}

test_budget_e_warning_and_limits() {
	controller_start
	new_ns e2e-bwarn
	apply_team bwarn "  namespaces: [e2e-bwarn]
  quota: {gpus: 8}
  limits: {maxGPUsPerPod: 2}
  priorities: {tiers: [{name: work, value: 1000}], defaultTier: work}
  budget: {gpuHours: \"0.01\", period: Monthly, onExhausted: Deny, warnAtPercent: 10}"
	wait_for 30 team_ready bwarn
	wait_for 30 webhook_serves e2e-bwarn bwarn-work
	local out
	out=$(gpu_pod_yaml e2e-bwarn toomany 3 | $KUBECTL apply -f - 2>&1) && fail "over the per-pod cap"
	assert_contains "$out" "at most 2" "maxGPUsPerPod denial"
	# 2 GPUs x 3 s = 6 GPU-s = 16.7 % of 36 GPU-s: past the 10 % warning.
	gpu_pod_yaml e2e-bwarn first 2 3s | $KUBECTL apply -f - >/dev/null
	wait_for 40 cond_is bwarn BudgetWarning True
	out=$(gpu_pod_yaml e2e-bwarn second 1 1s | $KUBECTL apply -f - 2>&1)
	assert_contains "$out" "Warning:" "warning printed by kubectl"
	assert_contains "$out" "GPU-hour budget" "warning text"
	assert_eq "$(jp pod/second '{.spec.priorityClassName}' e2e-bwarn)" bwarn-work "defaultTier set"
	# Non-GPU pods are never touched.
	$KUBECTL -n e2e-bwarn run cpu-only --image=registry.example/app:1 --restart=Never >/dev/null
	assert_eq "$(jp pod/cpu-only '{.metadata.finalizers}' e2e-bwarn)" "" "no finalizer on CPU pods"
}

kill_controller() {
	kill -KILL "$(cat "$CTL_PIDFILE")"
	wait_for 10 sh -c "! kill -0 $(cat "$CTL_PIDFILE") 2>/dev/null"
	rm -f "$CTL_PIDFILE"
}

test_budget_f_exact_through_sigkill_and_deletions() {
	local ns=e2e-bcrash truth=0 used diff i p
	controller_start
	new_ns $ns
	apply_team bcrash "  namespaces: [$ns]
  quota: {gpus: 16}
  priorities: {tiers: [{name: work, value: 1000}], defaultTier: work}
  budget: {gpuHours: \"100\", period: Monthly, onExhausted: Deny}"
	wait_for 30 team_ready bcrash
	wait_for 30 webhook_serves $ns bcrash-work
	declare -A gpus=([c1]=1 [c2]=2 [c3]=1 [c4]=3 [c5]=1 [c6]=2)
	declare -A deleted_end
	class_pod $ns c1 1 20s bcrash-work
	class_pod $ns c2 2 25s bcrash-work
	class_pod $ns c3 1 60s bcrash-work
	class_pod $ns c4 3 30s bcrash-work
	class_pod $ns c5 1 60s bcrash-work
	for i in 1 2 3 4 5 6; do
		sleep $((2 + RANDOM % 4))
		kill_controller
		case $i in
		2 | 4) # delete a running pod while the controller is down
			p=$([ $i = 2 ] && echo c3 || echo c5)
			wait_for 30 phase_is $ns $p Running
			$KUBECTL -n $ns delete pod $p --grace-period=0 --force --wait=false >/dev/null 2>&1
			wait_for 10 sh -c "[ -n \"\$($KUBECTL -n $ns get pod $p -o jsonpath='{.metadata.deletionTimestamp}')\" ]"
			deleted_end[$p]="$(jp pod/$p '{.metadata.deletionTimestamp}' $ns) $(jp pod/$p '{.status.startTime}' $ns)"
			;;
		3) class_pod $ns c6 2 15s bcrash-work ;; # admitted while the webhook is down
		esac
		sleep $((1 + RANDOM % 3))
		controller_start
	done
	# Everything ends; every finalizer is released once accounted.
	for p in c1 c2 c4 c6; do wait_for 90 phase_is $ns $p Succeeded; done
	wait_for 60 sh -c "! $KUBECTL -n $ns get pods -o jsonpath='{.items[*].metadata.finalizers}' | grep -q gpuquota.io/accounting"
	for p in c3 c5; do wait_for 30 sh -c "! $KUBECTL -n $ns get pod $p >/dev/null 2>&1"; done
	# Ground truth from the pods' own timestamps (milli GPU-seconds).
	for p in c1 c2 c4 c6; do
		local s f
		s=$(jp pod/$p '{.status.startTime}' $ns)
		f=$(jp pod/$p '{.status.containerStatuses[0].state.terminated.finishedAt}' $ns)
		truth=$((truth + ($(date -d "$f" +%s) - $(date -d "$s" +%s)) * 1000 * ${gpus[$p]}))
	done
	for p in c3 c5; do
		set -- ${deleted_end[$p]}
		truth=$((truth + ($(date -d "$1" +%s) - $(date -d "$2" +%s)) * 1000 * ${gpus[$p]}))
	done
	wait_for 30 sh -c "[ \"\$($KUBECTL get gta bcrash -o jsonpath='{.status.usage.usedMicroGPUSeconds}')\" -ge $((truth * 1000 - 6000000)) ]"
	sleep 3
	used=$(jp gta/bcrash '{.status.usage.usedMicroGPUSeconds}')
	diff=$((used / 1000 - truth))
	echo "    crash test: ground truth $truth mGPU-s, ledger $((used / 1000)) mGPU-s, difference ${diff} mGPU-s over 6 pods"
	[ "${diff#-}" -le 6000 ] || fail "ledger off by ${diff} milli GPU-seconds (tolerance 1 GPU-second per pod)"
}

# secret_crt: the serving certificate (PEM) in the controller's Secret.
secret_crt() {
	jp secret/gpuquota-webhook-tls '{.data.tls\.crt}' gpuquota-system | base64 -d
}

# served_crt: the certificate the webhook presents to a new connection.
served_crt() {
	openssl s_client -connect "127.0.0.1:$CTL_WEBHOOK_PORT" -servername 127.0.0.1 </dev/null 2>/dev/null |
		openssl x509 2>/dev/null
}

serial_of() { openssl x509 -noout -serial 2>/dev/null | cut -d= -f2; }

# plant_due_cert DIR: replaces the Secret's serving pair with one signed by
# the Secret's own CA, with the same names, issued 20 days ago for 25 days:
# valid, but with less than a third of its lifetime left, i.e. due.
plant_due_cert() {
	local d=$1 sans
	jp secret/gpuquota-webhook-tls '{.data.ca\.crt}' gpuquota-system | base64 -d >"$d/ca.crt"
	jp secret/gpuquota-webhook-tls '{.data.ca\.key}' gpuquota-system | base64 -d >"$d/ca.key"
	secret_crt >"$d/old.crt"
	sans=$(openssl x509 -in "$d/old.crt" -noout -ext subjectAltName | tail -n +2 |
		sed -e 's/^ *//' -e 's/IP Address:/IP:/g' -e 's/, /,/g')
	mkdir -p "$d/new"
	: >"$d/index.txt"
	echo 1000 >"$d/serial"
	cat >"$d/ca.cnf" <<CNF
[ca]
default_ca = d
[d]
database = $d/index.txt
new_certs_dir = $d/new
serial = $d/serial
default_md = sha256
policy = p
copy_extensions = copy
unique_subject = no
[p]
commonName = supplied
CNF
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/due.key" \
		-subj "/CN=gpuquota-webhook" -addext "subjectAltName=$sans" -out "$d/due.csr" 2>/dev/null
	openssl ca -batch -config "$d/ca.cnf" -cert "$d/ca.crt" -keyfile "$d/ca.key" -in "$d/due.csr" \
		-out "$d/due.crt" -notext -startdate "$(date -u -d '-20 days' +%Y%m%d%H%M%SZ)" \
		-enddate "$(date -u -d '+5 days' +%Y%m%d%H%M%SZ)" 2>/dev/null
	$KUBECTL -n gpuquota-system patch secret gpuquota-webhook-tls --type merge -p \
		"{\"data\":{\"tls.crt\":\"$(base64 -w0 <"$d/due.crt")\",\"tls.key\":\"$(base64 -w0 <"$d/due.key")\"}}" >/dev/null
}

test_budget_g_certificate_renewed_while_serving() {
	local d before due now_serial bundle
	d=$(mktemp -d)
	controller_stop
	controller_start --webhook-cert-check-interval 2s
	new_ns e2e-bcert
	budget_team bcert e2e-bcert Deny 100 Monthly
	wait_for 30 team_ready bcert
	wait_for 30 webhook_serves e2e-bcert bcert-work
	before=$(served_crt | serial_of)
	[ -n "$before" ] || fail "no certificate served on port $CTL_WEBHOOK_PORT"
	assert_eq "$(secret_crt | serial_of)" "$before" "the webhook serves the Secret's certificate"
	plant_due_cert "$d"
	due=$(serial_of <"$d/due.crt")
	[ -n "$due" ] || fail "could not make the due certificate"
	# The next check finds it due, issues a new one, stores it and serves it.
	wait_for 30 sh -c "s=\$($KUBECTL -n gpuquota-system get secret gpuquota-webhook-tls -o jsonpath='{.data.tls\.crt}' | base64 -d | openssl x509 -noout -serial); [ -n \"\$s\" ] && [ \"\$s\" != serial=$due ]"
	now_serial=$(secret_crt | serial_of)
	[ "$now_serial" != "$before" ] || fail "the certificate was not renewed"
	wait_for 10 sh -c "[ \"\$(openssl s_client -connect 127.0.0.1:$CTL_WEBHOOK_PORT </dev/null 2>/dev/null | openssl x509 -noout -serial | cut -d= -f2)\" = $now_serial ]"
	assert_contains "$(cat "$CTL_LOG")" "webhook certificate rotated" "rotation logged"
	secret_crt | openssl x509 -noout -checkend $((300 * 86400)) >/dev/null ||
		fail "the renewed certificate does not have a fresh lifetime"
	# The CA was kept: the bundle the apiserver trusts verifies the new one.
	bundle=$(jp mutatingwebhookconfiguration/gpuquota '{.webhooks[0].clientConfig.caBundle}')
	echo "$bundle" | base64 -d >"$d/bundle.crt"
	served_crt >"$d/served.crt"
	openssl verify -CAfile "$d/bundle.crt" "$d/served.crt" >/dev/null 2>&1 ||
		fail "the served certificate does not verify against the injected CA bundle"
	# And the apiserver still reaches the webhook over TLS.
	wait_for 30 webhook_serves e2e-bcert bcert-work
	rm -rf "$d"
	controller_stop
	controller_start
}

# wide_pod NS NAME N: a pod whose container limits N distinct nvidia.com/*
# resources (none of them exists on any node: admission comes first).
wide_pod() {
	printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: %s}\nspec:\n' "$2" "$1"
	printf '  containers:\n  - name: main\n    image: registry.example/train:1\n'
	printf '    resources:\n      limits:\n'
	for i in $(seq 1 "$3"); do printf '        nvidia.com/r%d: "1"\n' "$i"; done
}

# many_containers_pod NS NAME N GPU: a pod of N containers; with GPU=1 the
# last one limits one nvidia.com/gpu.
many_containers_pod() {
	printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: %s}\nspec:\n  containers:\n' "$2" "$1"
	for i in $(seq 1 "$3"); do printf '  - {name: c%d, image: registry.example/app:1}\n' "$i"; done
	[ "$4" = 1 ] && printf '  - {name: gpu, image: registry.example/train:1, resources: {limits: {nvidia.com/gpu: "1"}}}\n'
	return 0
}

# gated_pod NS NAME N GPU: a pod with N scheduling gates; with GPU=1 it
# limits one nvidia.com/gpu.
gated_pod() {
	printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: %s}\nspec:\n  schedulingGates:\n' "$2" "$1"
	for i in $(seq 1 "$3"); do printf '  - {name: example.com/g%d}\n' "$i"; done
	printf '  containers:\n  - name: main\n    image: registry.example/train:1\n'
	[ "$4" = 1 ] && printf '    resources: {limits: {nvidia.com/gpu: "1"}}\n'
	return 0
}

# A GPU pod the webhook cannot check (over its bounds) is refused with the
# bound named, not answered 400 and then admitted by failurePolicy Ignore.
test_budget_h_gpu_pod_over_the_limits_refused() {
	local out
	controller_start
	new_ns e2e-bwide
	budget_team bwide e2e-bwide Deny 100 Monthly
	wait_for 30 team_ready bwide
	wait_for 30 webhook_serves e2e-bwide bwide-work
	# 64 distinct resources are checked: the default tier is filled in.
	assert_eq "$(wide_pod e2e-bwide w64 64 | $KUBECTL apply --dry-run=server -o jsonpath='{.spec.priorityClassName}' -f - 2>&1)" \
		bwide-work "64 distinct nvidia.com/* resources are checked"
	out=$(wide_pod e2e-bwide w65 65 | $KUBECTL apply -f - 2>&1) && fail "GPU pod over the limits admitted: $out"
	assert_contains "$out" 'admission webhook "pods.gpuquota.io" denied the request' "webhook denial"
	assert_contains "$out" "gpuquota: pod has more than 64 distinct nvidia.com/* resources (limit 64)" \
		"message names the limit"
	assert_contains "$out" "GPU pods over the limits gpuquota can check are refused" "message says why"
	$KUBECTL -n e2e-bwide get pod w65 >/dev/null 2>&1 && fail "pod w65 exists"
	# 1025 containers, the GPU in the last one: the apiserver itself accepts
	# that many (a CPU pod of 1025 containers passes a server-side dry run,
	# and is never sent to the webhook), the webhook refuses the GPU pod.
	many_containers_pod e2e-bwide cpu1025 1025 0 | $KUBECTL apply --dry-run=server -f - >/dev/null ||
		fail "the apiserver refused a pod of 1025 containers"
	out=$(many_containers_pod e2e-bwide gpu1025 1024 1 | $KUBECTL apply -f - 2>&1) &&
		fail "GPU pod of 1025 containers admitted: $out"
	assert_contains "$out" "pod has more than 1024 entries in spec.containers (limit 1024)" \
		"container bound named"
	# 257 scheduling gates: the same (the apiserver takes 257 on a CPU pod).
	gated_pod e2e-bwide cpugates 257 0 | $KUBECTL apply --dry-run=server -f - >/dev/null ||
		fail "the apiserver refused a pod of 257 scheduling gates"
	out=$(gated_pod e2e-bwide gpugates 257 1 | $KUBECTL apply -f - 2>&1) &&
		fail "GPU pod of 257 scheduling gates admitted: $out"
	assert_contains "$out" "pod has more than 256 entries in spec.schedulingGates (limit 256)" \
		"gate bound named"
	assert_contains "$(cat "$CTL_LOG")" "admission refused a GPU pod" "refusal logged"
}
