# e2e: per-team metrics and the Grafana dashboard, checked through the test
# bed's real Prometheus (test/cluster/prometheus.sh, scraping the controller
# every 2 s): every query of manifests/grafana/gpuquota-dashboard.json, read
# from the file with its template variables substituted, is run through
# Prometheus' HTTP API and its values are compared with the allocation's
# status and the pods observed; promtool checks the scraped text.

. "$ROOT/test/cluster/ports.sh"
PROM_URL="http://127.0.0.1:$PROMETHEUS_PORT"
DASHBOARD="$ROOT/manifests/grafana/gpuquota-dashboard.json"
MTR_TEAM=mtr
MTR_NS=e2e-mtr

# prom_query EXPR: the JSON answer of an instant query (fails unless success).
prom_query() {
	local out
	out=$(curl -sfG "$PROM_URL/api/v1/query" --data-urlencode "query=$1") || return 1
	[ "$(jq -r .status <<<"$out")" = success ] || return 1
	printf '%s\n' "$out"
}

# prom_value EXPR [SELECT]: the value of the first series of EXPR (SELECT is
# a jq condition on a result item, e.g. '.metric.resource=="nvidia.com/gpu"').
prom_value() {
	prom_query "$1" | jq -r "[.data.result[] | select(${2:-true}) | .value[1]][0] // empty"
}

# dash_expr TITLE REFID: that panel target's query, $team substituted.
dash_expr() {
	local e
	e=$(jq -r --arg t "$1" --arg r "$2" \
		'.panels[] | select(.title == $t) | .targets[] | select(.refId == $r) | .expr' "$DASHBOARD")
	[ -n "$e" ] || { fail "dashboard has no query $2 in panel \"$1\""; return 1; }
	printf '%s\n' "${e//\$team/$MTR_TEAM}"
}

# dash_value TITLE REFID [SELECT]
dash_value() {
	local e
	e=$(dash_expr "$1" "$2") || return 1
	prom_value "$e" "${3:-true}"
}

# near A B TOL: |A - B| <= TOL (floats).
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && d <= t) }'; }

# assert_near GOT WANT TOL WHAT
assert_near() {
	near "$1" "$2" "$3" || fail "$4: got '$1', want '$2' (within $3)"
}

# ge A B: A >= B (floats).
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 >= b + 0) }'; }

gta_json() { $KUBECTL get gta "$MTR_TEAM" -o json; }

# The status' used GPU-hours, exactly (from the micro GPU-seconds).
status_used_hours() {
	gta_json | jq -r '.status.usage.usedMicroGPUSeconds / 3600000000'
}

# dashboard_used_is_status: the dashboard's used GPU-hours equal the status.
dashboard_used_is_status() {
	near "$(dash_value 'GPU-hours used vs budget' A)" "$(status_used_hours)" 1e-12
}

# The dashboard's team-wide use of RESOURCE is N.
dashboard_resource_used_is() {
	[ "$(dash_value 'GPUs and MIG slices: in use vs quota' A ".metric.resource==\"$1\"")" = "$2" ]
}

# counter value of decision D for the team (0 when absent).
decisions() {
	local v
	v=$(prom_value "gpuquota_admission_decisions_total{team=\"$MTR_TEAM\",decision=\"$1\"}")
	echo "${v:-0}"
}

decisions_reach() { ge "$(decisions "$1")" "$2"; }

serve_pod_yaml() { # NAME RESOURCE
	cat <<Y
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: $MTR_NS}
spec:
  priorityClassName: $MTR_TEAM-serve
  containers:
  - name: main
    image: registry.example/serve:1
    resources:
      limits: {$2: "1"}
Y
}

status_quota_used_is() { # RESOURCE N
	[ "$(gta_json | jq -r --arg r "requests.$1" '.status.quota.used[$r]')" = "$2" ]
}

test_metrics_a_dashboard_is_valid() {
	local names used v n
	jq empty "$DASHBOARD" || fail "dashboard JSON does not parse"
	# Every panel but rows has a data source and queries, each with its own.
	n=$(jq '[.panels[] | select(.type != "row") |
		select((.datasource.uid // "") == "" or ((.targets // []) | length) == 0 or
		       any(.targets[]; (.expr // "") == "" or (.datasource.uid // "") == ""))] | length' "$DASHBOARD")
	assert_eq "$n" 0 "panels without a data source or a query"
	assert_eq "$(jq '[.panels[].id] | length == (unique | length)' "$DASHBOARD")" true "panel ids unique"
	# No dangling template variables: each $name / ${name} used is defined.
	names=$(jq -r '.templating.list[].name' "$DASHBOARD" | sort -u)
	used=$(jq -r '.. | strings' "$DASHBOARD" | grep -o '\$[{]\?[A-Za-z_][A-Za-z0-9_]*' |
		tr -d '${' | sort -u)
	for v in $used; do
		grep -qx "$v" <<<"$names" || fail "template variable \$$v is not defined"
	done
	assert_contains "$used" team "queries use \$team"
	assert_eq "$(jq -r '.templating.list[] | select(.name == "team") | .query.query' "$DASHBOARD")" \
		"label_values(gpuquota_team_quota, team)" "team variable query"
	# The ConfigMap for Grafana's sidecar carries exactly this JSON.
	local cm
	cm=$("$CLUSTER_DIR/bin/kubectl" kustomize "$ROOT/manifests/grafana" |
		$KUBECTL create --dry-run=client -o json -f -)
	assert_eq "$(jq -r '.metadata.labels.grafana_dashboard' <<<"$cm")" 1 "sidecar label"
	assert_eq "$(jq -j '.data["gpuquota-dashboard.json"]' <<<"$cm" | sha256sum)" \
		"$(sha256sum <"$DASHBOARD")" "ConfigMap holds the dashboard file"
	assert_eq "$("$CLUSTER_DIR/bin/kubectl" kustomize "$ROOT/manifests/monitoring" | grep '^kind:' | tr '\n' ' ')" \
		"kind: Service kind: ServiceMonitor " "monitoring overlay"
}

test_metrics_b_dashboard_queries_agree_with_status() {
	controller_start
	"$ROOT/test/cluster/prometheus.sh"
	wait_for 30 sh -c "curl -sfG '$PROM_URL/api/v1/query' --data-urlencode 'query=up{job=\"gpuquota\"}' | grep -q '\"1\"\]'"
	new_ns "$MTR_NS"
	apply_team "$MTR_TEAM" "  namespaces: [$MTR_NS]
  quota: {gpus: 4, migSlices: {\"1g.10gb\": 2}}
  priorities:
    tiers: [{name: work, value: 1000}, {name: serve, value: 50000}]
    defaultTier: work
  budget: {gpuHours: \"0.001\", period: Monthly, onExhausted: Deny, warnAtPercent: 50, exemptTiers: [serve]}"
	wait_for 30 team_ready "$MTR_TEAM"
	wait_for 30 webhook_serves "$MTR_NS" "$MTR_TEAM-work"
	# 2 GPUs for 3 s: 6 GPU-seconds, over the 3.6 of the budget.
	gpu_pod_yaml "$MTR_NS" burn 2 3s | $KUBECTL apply -f - >/dev/null
	wait_for 60 exhausted "$MTR_TEAM"
	wait_for 60 phase_is "$MTR_NS" burn Succeeded
	wait_for 30 sh -c "[ -z \"\$($KUBECTL -n $MTR_NS get pod burn -o jsonpath='{.metadata.finalizers}')\" ]"

	# Nothing runs now: the used GPU-hours are exactly the ledger's.
	wait_for 30 dashboard_used_is_status
	local st used budget_h end_s now
	st=$(gta_json)
	used=$(jq -r '.status.usage.usedMicroGPUSeconds / 3600000000' <<<"$st")
	budget_h=$(jq -r '.status.usage.budgetGPUHours' <<<"$st")
	end_s=$(date -u -d "$(jq -r '.status.usage.periodEnd' <<<"$st")" +%s)
	ge "$used" 0.001 || fail "used $used is below the budget"
	assert_near "$(dash_value 'GPU-hours used vs budget' B)" "$budget_h" 1e-12 "budget"
	assert_near "$(dash_value 'Period ends' A)" "$((end_s * 1000))" 0 "period end"
	assert_near "$(dash_value 'Budget used' A)" "$(awk -v u="$used" -v b="$budget_h" 'BEGIN{printf "%.12f", 100*u/b}')" 1e-6 "budget used %"
	assert_eq "$(dash_value 'Budget state' A)" 1 "exhausted"
	assert_eq "$(dash_value 'Budget state' B)" 1 "warning"
	assert_eq "$(gta_cond "$MTR_TEAM" BudgetExhausted) $(gta_cond "$MTR_TEAM" BudgetWarning)" "True True" "conditions"
	now=$(date +%s)
	ge "$(((now + 10) * 1000))" "$(dash_value 'Budget runs out at' A)" || fail "spent budget runs out now"

	# A denial increments the deny series.
	local denied out
	denied=$(decisions deny)
	out=$(gpu_pod_yaml "$MTR_NS" late 1 | $KUBECTL apply -f - 2>&1) && fail "GPU pod admitted: $out"
	assert_contains "$out" "denied the request" "webhook denial"
	wait_for 20 decisions_reach deny "$((denied + 1))"
	ge "$(dash_value 'Admission decisions' A '.metric.decision=="deny"')" 0.5 ||
		fail "the dashboard shows no denial"

	# Exempt pods run: a GPU and a MIG slice; quota and use per resource exact.
	serve_pod_yaml infer nvidia.com/gpu | $KUBECTL apply -f - >/dev/null
	serve_pod_yaml slice nvidia.com/mig-1g.10gb | $KUBECTL apply -f - >/dev/null
	wait_for 60 phase_is "$MTR_NS" infer Running
	wait_for 60 phase_is "$MTR_NS" slice Running
	wait_for 60 status_quota_used_is nvidia.com/gpu 1
	wait_for 60 status_quota_used_is nvidia.com/mig-1g.10gb 1
	wait_for 30 dashboard_resource_used_is nvidia.com/mig-1g.10gb 1
	wait_for 30 dashboard_resource_used_is nvidia.com/gpu 1
	local res hard have quota
	st=$(gta_json)
	for res in $(jq -r '.status.quota.hard | keys[] | select(startswith("requests.nvidia.com/"))' <<<"$st"); do
		hard=$(jq -r --arg r "$res" '.status.quota.hard[$r]' <<<"$st")
		have=$(jq -r --arg r "$res" '.status.quota.used[$r]' <<<"$st")
		quota=$(dash_value 'GPUs and MIG slices: in use vs quota' B ".metric.resource==\"${res#requests.}\"")
		assert_eq "$quota" "$hard" "quota of $res"
		assert_eq "$(dash_value 'GPUs and MIG slices: in use vs quota' A ".metric.resource==\"${res#requests.}\"")" \
			"$have" "use of $res"
	done
	assert_eq "$(dash_value 'GPUs and MIG slices: in use vs quota' B '.metric.resource=="nvidia.com/gpu"')" 4 "GPU quota"
	assert_eq "$(dash_value 'GPUs and MIG slices: in use vs quota' B '.metric.resource=="nvidia.com/mig-1g.10gb"')" 2 "MIG quota"
	assert_eq "$(dash_value 'Held and deprioritized pods' A '.metric.state=="running"')" 2 "running pods"
	assert_eq "$(dash_value 'Held and deprioritized pods' A '.metric.state=="held"')" 0 "held pods"
	assert_eq "$(dash_value 'Held and deprioritized pods' A '.metric.state=="deprioritized"')" 0 "deprioritized pods"

	# While 8/7 GPUs run, used agrees with the status within one ledger
	# interval (1 s) plus a scrape interval (2 s) and the read in between.
	local tol
	tol=$(awk 'BEGIN { printf "%.9f", (8 / 7) * (1 + 2 + 2) / 3600 }')
	assert_near "$(dash_value 'GPU-hours used vs budget' A)" "$(status_used_hours)" "$tol" "used while running"
	ge "$(dash_value 'GPU use (GPUs)' A)" 0.000001 || fail "GPU use rate is zero"
	ge "$(dash_value 'GPU-hours used vs budget' C)" "$(dash_value 'GPU-hours used vs budget' A)" ||
		fail "forecast below use"
	ge "$(dash_value 'Budget used, all teams' A ".metric.team==\"$MTR_TEAM\"")" 100 || fail "overview: spent budget"
	assert_eq "$(dash_value 'Teams' B ".metric.team==\"$MTR_TEAM\"")" 0 "overview: nothing left"
	ge "$(dash_value 'Teams' A ".metric.team==\"$MTR_TEAM\"")" "$used" || fail "overview: used"
	assert_eq "$(dash_value 'Leader' A)" 1 "leader"
	local p99
	p99=$(dash_value 'Webhook and reconcile latency p99' A)
	ge "$p99" 0.0000001 && ge 5 "$p99" || fail "webhook p99 $p99"
	ge "$(dash_value 'Webhook and reconcile latency p99' B)" 0.0000001 || fail "reconcile p99"

	# Every query of the dashboard answers with data, and the team variable
	# lists the team.
	local e count=0
	while IFS= read -r e; do
		e=${e//\$team/$MTR_TEAM}
		[ "$(prom_query "$e" | jq '.data.result | length')" -gt 0 ] || fail "no data for: $e"
		count=$((count + 1))
	done < <(jq -r '.panels[] | .targets[]? | .expr' "$DASHBOARD")
	[ "$count" -ge 20 ] || fail "only $count dashboard queries"
	curl -sfG "$PROM_URL/api/v1/label/team/values" --data-urlencode 'match[]=gpuquota_team_quota' |
		jq -e --arg t "$MTR_TEAM" '.data | index($t) != null' >/dev/null || fail "team variable misses $MTR_TEAM"

	# The scraped text passes promtool; nothing is labelled by pod.
	local text lint
	text=$(curl -sf "http://$CTL_METRICS/metrics")
	lint=$(promtool check metrics <<<"$text" 2>&1) || fail "promtool: $lint"
	assert_eq "$lint" "" "promtool check metrics"
	assert_not_contains "$text" 'pod="' "no pod labels"
	assert_contains "$text" "gpuquota_team_gpu_seconds_total{team=\"$MTR_TEAM\"}" "team counter"
	$KUBECTL -n "$MTR_NS" delete pod infer slice --wait=false >/dev/null
}
