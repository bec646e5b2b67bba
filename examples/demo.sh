#!/usr/bin/env bash
# make demo: a local simulated GPU cluster, the CRD, the example teams and the
# controller (running with its least-privilege ServiceAccount), then a look at
# what it produced and at the real quota enforcing it.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export ROOT KUBECTL="$ROOT/.cluster/bin/kubectl --kubeconfig $ROOT/.cluster/kubeconfig"
E2E_NS_FILE=/dev/null
E2E_GTA_FILE=/dev/null
. test/e2e/lib.sh
. test/e2e/controller.sh

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "Starting the local cluster (etcd, kube-apiserver, controller-manager, scheduler, kwok GPU nodes, a real node)"
test/cluster/cluster-up.sh
make --no-print-directory build >/dev/null

step "Simulated GPU nodes"
show $KUBECTL get nodes -l type=kwok -o custom-columns='NAME:.metadata.name,GPU:.status.allocatable.nvidia\.com/gpu,MIG-1G.10GB:.status.allocatable.nvidia\.com/mig-1g\.10gb,MIG-3G.40GB:.status.allocatable.nvidia\.com/mig-3g\.40gb,PRODUCT:.metadata.labels.nvidia\.com/gpu\.product'

step "Installing the CRD and RBAC, starting gpuquota-controller (log: .cluster/logs/gpuquota-controller.log)"
controller_start

step "Applying the example teams (examples/)"
show $KUBECTL apply -f examples/namespaces.yaml -f examples/vision.yaml -f examples/nlp.yaml -f examples/research.yaml
for t in vision nlp research; do wait_for 60 cond_is $t Ready True; done

step "The teams"
show $KUBECTL get gta
step "What the controller materialized"
show $KUBECTL get resourcequota -A -l app.kubernetes.io/managed-by=gpuquota
show $KUBECTL get priorityclass -l app.kubernetes.io/managed-by=gpuquota
show $KUBECTL get namespaces -L gpuquota.io/team -l gpuquota.io/team

step "A vision training pod asking for 4 GPUs runs"
tier_pod vision-train train-4gpu 4 vision-training | $KUBECTL apply -f -
wait_for 30 phase_is vision-train train-4gpu Running
show $KUBECTL -n vision-train get pod train-4gpu -o wide

step "research has no whole GPUs: its 1-GPU pod is refused by the real ResourceQuota"
tier_pod research-sandbox wants-a-gpu 1 research-interactive | $KUBECTL apply -f - 2>&1 || true

step "Team usage, read back from the quotas"
wait_for 30 sh -c "[ \"\$($KUBECTL get gta vision -o jsonpath='{.status.gpus}')\" = 4/12 ]"
show $KUBECTL get gta

step "Budgets draining: the interns team has 0.005 GPU-hours a day; a fine-tuning Job spends them"
show $KUBECTL apply -f examples/interns.yaml
wait_for 60 cond_is interns Ready True
# Wait until the apiserver routes the namespace's GPU pods to the webhook.
webhook_serves() {
	[ "$(gpu_pod_yaml interns probe 1 | $KUBECTL apply --dry-run=server -o jsonpath='{.spec.priorityClassName}' -f - 2>/dev/null)" = interns-study ]
}
wait_for 30 webhook_serves
show $KUBECTL apply -f examples/jobs/interns-finetune.yaml
wait_for 60 cond_is interns BudgetExhausted True
show $KUBECTL get gta interns vision
show $KUBECTL get gta interns -o jsonpath='{.status.conditions[?(@.type=="BudgetExhausted")].message}{"\n"}'

step "The next interns GPU pod is refused, with the reason and the reset time"
gpu_pod_yaml interns one-more 1 | $KUBECTL apply -f - 2>&1 || true

step "The same figures in Prometheus (scraping the controller every 2 s)"
. test/cluster/ports.sh
PROM="http://127.0.0.1:$PROMETHEUS_PORT"
prom_exhausted() {
	curl -sfG "$PROM/api/v1/query" --data-urlencode 'query=gpuquota_team_budget_exhausted{team="interns"}' |
		grep -q '"1"\]'
}
wait_for 30 prom_exhausted
printf '$ curl -G %s/api/v1/query --data-urlencode query=QUERY\n' "$PROM"
for q in 'used=gpuquota_team_used_gpu_seconds / 3600' 'budget=gpuquota_team_budget_gpu_seconds / 3600'; do
	curl -sfG "$PROM/api/v1/query" --data-urlencode "query=${q#*=}" |
		jq -r --arg k "${q%%=*}" '.data.result[] | "  team \(.metric.team)\t\($k) GPU-hours\t\(.value[1])"'
done | sort

step "Meanwhile vision, within its budget, keeps starting GPU pods"
tier_pod vision-lab eval-1gpu 1 vision-experiment | $KUBECTL apply -f -
wait_for 30 phase_is vision-lab eval-1gpu Running
show $KUBECTL -n vision-lab get pod eval-1gpu

step "vision's MIG pool: its slice pods are pinned to mig-node-1 (nodeSelector and toleration from the webhook)"
mig_pod() { # NS NAME PROFILE RUN_FOR
	cat <<Y
apiVersion: v1
kind: Pod
metadata:
  name: $2
  namespace: $1
  annotations: {test.gpuquota.io/run-for: "$4"}
spec:
  containers:
  - name: main
    image: registry.example/vision:1
    resources: {limits: {nvidia.com/mig-$3: "1"}}
Y
}
pool_nodes() {
	$KUBECTL get gta vision -o jsonpath='{range .status.nodes[*]}  {.name}: {.phase}, layout {.observedConfig} -> {.desiredConfig} ({.configState}) {.message}{"\n"}{end}'
}
mig_pod vision-lab slice-eval 1g.10gb 20s | $KUBECTL apply -f -
wait_for 30 phase_is vision-lab slice-eval Running
show $KUBECTL -n vision-lab get pod slice-eval -o custom-columns='NAME:.metadata.name,NODE:.spec.nodeName,SELECTOR:.spec.nodeSelector,TOLERATES:.spec.tolerations[?(@.key=="gpuquota.io/pool")].value'
show $KUBECTL get node mig-node-1 -L gpuquota.io/pool,nvidia.com/mig.config,nvidia.com/mig.config.state
show $KUBECTL get namespaces -L gpuquota.io/mig-config -l gpuquota.io/team=vision

step "Re-partitioning vision's pool live: all-1g.10gb -> all-3g.40gb while a slice pod runs there"
show $KUBECTL patch gta vision --type merge -p '{"spec":{"quota":{"migSlices":{"1g.10gb":null,"3g.40gb":4}},"sharing":{"migConfig":"all-3g.40gb"}}}'
wait_for 30 sh -c "$KUBECTL get gta vision -o jsonpath='{.status.nodes[0].message}' | grep -q 'waiting for 1 GPU pod'"
echo "mig-node-1 is cordoned and waits for the running pod (no job is killed):"
pool_nodes
show $KUBECTL get node mig-node-1 -o custom-columns='NAME:.metadata.name,UNSCHEDULABLE:.spec.unschedulable,MIG-CONFIG:.metadata.labels.nvidia\.com/mig\.config'
wait_for 60 phase_is vision-lab slice-eval Succeeded
echo "The pod ended; the layout is requested from the MIG manager, then the node is uncordoned:"
wait_for 60 sh -c "[ \"\$($KUBECTL get gta vision -o jsonpath='{.status.nodes[0].phase}')\" = Ready ]"
pool_nodes
show $KUBECTL get node mig-node-1 -o custom-columns='NAME:.metadata.name,UNSCHEDULABLE:.spec.unschedulable,MIG-3G.40GB:.status.allocatable.nvidia\.com/mig-3g\.40gb,STATE:.metadata.labels.nvidia\.com/mig\.config\.state'
show $KUBECTL get events -n default --field-selector involvedObject.name=vision -o custom-columns='REASON:.reason,MESSAGE:.message' --sort-by=.metadata.creationTimestamp
mig_pod vision-lab slice-big 3g.40gb 1h | $KUBECTL apply -f -
wait_for 30 phase_is vision-lab slice-big Running
show $KUBECTL -n vision-lab get pod slice-big -o wide

cat <<MSG

The cluster and the controller keep running. Try:
  export KUBECONFIG=$ROOT/.cluster/kubeconfig PATH=$ROOT/.cluster/bin:\$PATH
  kubectl get gta vision -o yaml
  kubectl explain gta.spec.budget
Watch the budgets drain in Prometheus ($PROM, Debian's package):
  $PROM/graph?g0.expr=gpuquota_team_used_gpu_seconds%2F3600&g0.tab=0&g0.range_input=30m
  $PROM/graph?g0.expr=rate(gpuquota_team_gpu_seconds_total%5B5m%5D)&g0.tab=0&g0.range_input=30m
  $PROM/targets   (the controller's scrape)
The Grafana dashboard: manifests/grafana/gpuquota-dashboard.json (README "Monitoring").
Stop everything with: make cluster-down
MSG
