# e2e: the bed's real node (test/cluster/node.sh): a kubelet with containerd
# and runc, the CNI bridge and kube-proxy in a network namespace of the bed.
# Pods that tolerate its taint run real containers there (exit codes, logs
# through the apiserver and the kubelet), reach the apiserver through the
# kubernetes Service and are reached by the apiserver through Services;
# deleting a pod stops its container; pods that do not tolerate the taint
# never land there. Then the operator's Deployment runs on it from the
# manifests (test/e2e/node-overlay/).

NODE_CTR="ctr --address $CLUSTER_DIR/node/run/containerd.sock -n k8s.io"

# node_image NAME: the reference of an image node.sh imported (pause, testbox).
node_image() { awk -v n="$1" '$1 == n {print $2}' "$CLUSTER_DIR/node/images" 2>/dev/null; }

node_check() {
	[ -f "$CLUSTER_DIR/node/images" ] ||
		fail "the cluster has no real node (started with GQ_REAL_NODE=0?)"
}

# node_pod NS NAME [restartPolicy] SCRIPT [extra yaml under the container]:
# a testbox pod on the real node running sh -c SCRIPT.
node_pod() {
	local ns=$1 name=$2 restart=$3 script=$4 extra=${5-}
	$KUBECTL apply -f - >/dev/null <<Y
apiVersion: v1
kind: Pod
metadata: {name: $name, namespace: $ns, labels: {app: $name}}
spec:
  nodeSelector: {gpuquota.io/real-node: "true"}
  tolerations: [{key: $NODE_TAINT_KEY, operator: Exists, effect: NoSchedule}]
  restartPolicy: $restart
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: $(node_image testbox)
    imagePullPolicy: Never
    command: [sh, -c, '$script']
$extra
Y
}

# ctr_id NS POD: the containerd id of the pod's first container.
ctr_id() { jp "pod/$2" '{.status.containerStatuses[0].containerID}' "$1" | sed 's|^containerd://||'; }

ctr_has() { grep -qx "$1" <<<"$($NODE_CTR containers ls -q)"; }
task_runs() { [ -n "$($NODE_CTR tasks ls | awk -v id="$1" '$1 == id && $3 == "RUNNING"')" ]; }

test_node_a_pods_run_real_containers() {
	node_check
	local ns=e2e-node-run
	new_ns $ns
	node_pod $ns fails Never 'echo "hello from $(hostname) uid $(id -u)"; exit 3'
	node_pod $ns works Never 'echo done'
	wait_for 120 phase_is $ns fails Failed
	wait_for 60 phase_is $ns works Succeeded
	assert_eq "$(jp pod/fails '{.spec.nodeName}' $ns)" "$NODE_NAME" "scheduled on the real node"
	assert_eq "$(jp pod/fails '{.status.containerStatuses[0].state.terminated.exitCode}' $ns)" 3 "exit code"
	assert_eq "$(jp pod/works '{.status.containerStatuses[0].state.terminated.reason}' $ns)" Completed "reason"
	# Logs come from the kubelet, through the apiserver.
	assert_eq "$($KUBECTL -n $ns logs fails)" "hello from fails uid 0" "kubectl logs"
	# A real container of this node's containerd, with a pod IP of its range.
	local id
	id=$(ctr_id $ns fails)
	ctr_has "$id" || fail "container $id not in containerd"
	local ip
	ip=$(jp pod/works '{.status.podIP}' $ns)
	case "$ip" in "${NODE_POD_CIDR%.0/24}".*) ;; *) fail "pod IP $ip not in $NODE_POD_CIDR" ;; esac
	assert_eq "$($KUBECTL get node "$NODE_NAME" -o jsonpath='{.status.nodeInfo.containerRuntimeVersion}')" \
		containerd://1.6.20 "runtime"
}

test_node_b_pod_reaches_apiserver_through_kubernetes_service() {
	node_check
	local ns=e2e-node-api svc
	new_ns $ns
	# The service account's token and CA (the pod's automounted volume); the
	# certificate is verified for the Service's name, the address is the
	# Service's ClusterIP the kubelet put in the environment.
	node_pod $ns client Never 'd=/var/run/secrets/kubernetes.io/serviceaccount;
echo "host $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT";
curl -sS --cacert $d/ca.crt --resolve kubernetes.default.svc:$KUBERNETES_SERVICE_PORT:$KUBERNETES_SERVICE_HOST -H "Authorization: Bearer $(cat $d/token)" -o /tmp/body -w "code %{http_code}\n" https://kubernetes.default.svc:$KUBERNETES_SERVICE_PORT/api/v1/namespaces/'$ns'/pods/client;
grep -o "\"nodeName\": *\"[^\"]*\"" /tmp/body | tr -d " ";
curl -sS --cacert $d/ca.crt -o /dev/null -w "anonymous %{http_code}\n" https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/api/v1/namespaces/'$ns'/pods'
	# The default service account may not read pods: a Role that lets it.
	$KUBECTL -n $ns create role read-pods --verb get --resource pods >/dev/null
	$KUBECTL -n $ns create rolebinding read-pods --role read-pods --serviceaccount $ns:default >/dev/null
	wait_for 120 sh -c "$KUBECTL -n $ns get pod client -o jsonpath='{.status.phase}' | grep -Eq 'Succeeded|Failed'"
	local out
	out=$($KUBECTL -n $ns logs client)
	svc=$($KUBECTL -n default get svc kubernetes -o jsonpath='{.spec.clusterIP}')
	assert_contains "$out" "host $svc:443" "the kubernetes Service's ClusterIP in the pod's environment"
	assert_contains "$out" "code 200" "authenticated request through the Service"
	assert_contains "$out" "\"nodeName\":\"$NODE_NAME\"" "the pod read itself from the apiserver"
	assert_contains "$out" "anonymous 403" "anonymous request refused by the apiserver"
	assert_eq "$(pod_phase $ns client)" Succeeded "client pod"
}

test_node_c_apiserver_reaches_pod_through_service() {
	node_check
	local ns=e2e-node-svc token
	new_ns $ns
	token=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
	node_pod $ns web Always "mkdir -p /tmp/www && echo $token >/tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www" \
		'    ports: [{name: http, containerPort: 8080}]
    readinessProbe: {httpGet: {path: /index.html, port: http}, periodSeconds: 2}'
	$KUBECTL -n $ns create service clusterip web --tcp 80:8080 >/dev/null
	# Ready once the kubelet's probe passed.
	wait_for 120 sh -c "[ \"\$($KUBECTL -n $ns get pod web -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}')\" = True ]"
	wait_for 30 sh -c "$KUBECTL -n $ns get endpointslices -l kubernetes.io/service-name=web -o jsonpath='{.items[*].endpoints[*].addresses}' | grep -q ."
	assert_eq "$($KUBECTL get --raw "/api/v1/namespaces/$ns/services/web:80/proxy/index.html")" "$token" \
		"the apiserver's proxy to the Service"
	# The Service's ClusterIP from the host, through kube-proxy's rules in the node.
	local ip
	ip=$($KUBECTL -n $ns get svc web -o jsonpath='{.spec.clusterIP}')
	assert_eq "$(curl -sS --max-time 10 "http://$ip/index.html")" "$token" "the ClusterIP from the host"
}

test_node_d_delete_stops_the_container() {
	node_check
	local ns=e2e-node-del id
	new_ns $ns
	node_pod $ns sleeper Never 'echo started; exec sleep 3600'
	wait_for 120 phase_is $ns sleeper Running
	id=$(ctr_id $ns sleeper)
	wait_for 30 task_runs "$id"
	# A finalizer keeps the pod object, so what the kubelet reports on it stays.
	$KUBECTL -n $ns patch pod sleeper --type merge -p '{"metadata":{"finalizers":["example.com/keep"]}}' >/dev/null
	$KUBECTL -n $ns delete pod sleeper --wait=false >/dev/null
	# sleep is the container's pid 1 and has no SIGTERM handler, so the
	# kubelet's SIGTERM is ignored and SIGKILL ends it after the 2 s grace.
	wait_for 60 sh -c "[ -n \"\$($KUBECTL -n $ns get pod sleeper -o jsonpath='{.status.containerStatuses[0].state.terminated.finishedAt}')\" ]"
	wait_for 30 sh -c "$KUBECTL -n $ns get pod sleeper -o jsonpath='{.status.phase}' | grep -Eq 'Failed|Succeeded'"
	assert_eq "$(jp pod/sleeper '{.status.phase} {.status.containerStatuses[0].state.terminated.exitCode}' $ns)" \
		"Failed 137" "phase and exit code set by the kubelet"
	task_runs "$id" && fail "container $id still runs after the pod's deletion"
	$KUBECTL -n $ns patch pod sleeper --type json -p '[{"op":"remove","path":"/metadata/finalizers"}]' >/dev/null
	wait_for 30 sh -c "! $KUBECTL -n $ns get pod sleeper >/dev/null 2>&1"
	# The kubelet removes the dead container of a deleted pod (its GC runs each minute).
	wait_for 150 sh -c "! $NODE_CTR containers ls -q | grep -qx $id"
}

test_node_e_untolerated_pods_never_land_there() {
	node_check
	local ns=e2e-node-taint
	new_ns $ns
	# Asking for the node without tolerating its taint: never scheduled.
	$KUBECTL apply -f - >/dev/null <<Y
apiVersion: v1
kind: Pod
metadata: {name: wants-node, namespace: $ns}
spec:
  nodeSelector: {gpuquota.io/real-node: "true"}
  containers: [{name: main, image: $(node_image testbox), command: [sleep, "60"]}]
Y
	# Many pods free to go anywhere: all on the simulated nodes.
	$KUBECTL -n $ns create deployment spread --image registry.example/app:1 --replicas 12 >/dev/null
	wait_for 60 sh -c "[ \"\$($KUBECTL -n $ns get pods -l app=spread --field-selector status.phase=Running --no-headers | wc -l)\" = 12 ]"
	assert_eq "$($KUBECTL -n $ns get pods -l app=spread -o jsonpath='{.items[?(@.spec.nodeName=="'"$NODE_NAME"'")].metadata.name}')" \
		"" "untolerating pods on the real node"
	wait_for 30 sh -c "$KUBECTL -n $ns get events --field-selector involvedObject.name=wants-node,reason=FailedScheduling -o jsonpath='{.items[*].message}' | grep -q 'untolerated taint'"
	assert_eq "$(pod_phase $ns wants-node)" Pending "pod that does not tolerate the taint"
	assert_eq "$(jp pod/wants-node '{.spec.nodeName}' $ns)" "" "not bound"
}

# The in-cluster controller's objects go when the test ends, and the webhook
# points at the out-of-cluster controller of the other tests again.
node_deploy_cleanup() {
	$KUBECTL -n gpuquota-system delete deployment gpuquota-controller --ignore-not-found --wait=false >/dev/null 2>&1
	$KUBECTL -n gpuquota-system wait --for=delete pod -l app.kubernetes.io/component=controller --timeout=60s >/dev/null 2>&1
	"$ROOT/test/cluster/webhook-local.sh" "$KUBECTL" "$CTL_WEBHOOK_PORT" >/dev/null 2>&1
}

test_node_f_operator_deployment_on_the_real_node() {
	node_check
	local out ref archive version ns=e2e-node-team w
	# The image, built without a registry and imported into the node.
	out=$(make -s -C "$ROOT" image 2>&1) || fail "make image: $out"
	ref=$(printf '%s\n' "$out" | sed -n 's/^image: \(localhost\/.*\)$/\1/p' | tail -n 1)
	archive=$(printf '%s\n' "$out" | sed -n 's/^archive: //p' | tail -n 1)
	version=${ref##*:}
	[ -n "$version" ] && [ -f "$ROOT/$archive" ] || fail "no image from make image: $out"
	$NODE_CTR images import "$ROOT/$archive" >/dev/null
	grep -qx "$ref" <<<"$($NODE_CTR images ls -q)" || fail "$ref not in the node's containerd"
	# One controller at a time: the out-of-cluster one stops.
	controller_stop
	trap node_deploy_cleanup EXIT
	w="$CLUSTER_DIR/real-node-deploy"
	mkdir -p "$w"
	cat >"$w/kustomization.yaml" <<Y
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [$(realpath --relative-to "$w" "$ROOT/test/cluster/real-node-overlay")]
images: [{name: localhost/gpuquota-controller, newTag: "$version"}]
Y
	$KUBECTL apply --server-side --force-conflicts -k "$w" >/dev/null
	$KUBECTL -n gpuquota-system rollout status deployment gpuquota-controller --timeout 180s >/dev/null ||
		fail "Deployment not ready: $($KUBECTL -n gpuquota-system get pods -o wide 2>&1)"
	local pod
	pod=$($KUBECTL -n gpuquota-system get pods -l app.kubernetes.io/component=controller \
		-o jsonpath='{.items[0].metadata.name}')
	assert_eq "$(jp "pod/$pod" '{.spec.nodeName}' gpuquota-system)" "$NODE_NAME" "controller on the real node"
	assert_eq "$(jp "pod/$pod" '{.status.containerStatuses[0].image}' gpuquota-system)" "$ref" "image"
	assert_eq "$(jp "pod/$pod" '{.status.conditions[?(@.type=="Ready")].status}' gpuquota-system)" True \
		"Ready through its readiness probe"
	# It works as the operator: a team materialized, and the apiserver calls
	# its webhook through the Service (the team's default class on a GPU pod).
	new_ns $ns
	apply_team nodeteam "  namespaces: [$ns]
  quota: {gpus: 4}
  priorities:
    tiers: [{name: work, value: 1000}]
    defaultTier: work"
	wait_for 60 team_ready nodeteam
	wait_for 60 webhook_serves $ns nodeteam-work
	assert_eq "$($KUBECTL get mutatingwebhookconfiguration gpuquota -o jsonpath='{.webhooks[0].clientConfig.service.name}')" \
		gpuquota-webhook "webhook registered through the Service"
	assert_contains "$($KUBECTL -n gpuquota-system logs "$pod")" '"level"' "JSON logs through the kubelet"
}
