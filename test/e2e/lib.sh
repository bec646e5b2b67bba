# Helpers for the e2e tests (sourced by run.sh). Tests drive the real cluster
# with kubectl, as a user would, and assert on what they observe.

# fail MSG: fail the current test.
fail() {
	printf '    FAIL: %s\n' "$*" >&2
	return 1
}

# assert_eq GOT WANT WHAT
assert_eq() {
	if [ "$1" != "$2" ]; then
		fail "$3: got '$1', want '$2'"
		return 1
	fi
}

# assert_contains HAYSTACK NEEDLE WHAT
assert_contains() {
	case "$1" in
	*"$2"*) return 0 ;;
	esac
	fail "$3: '$2' not found in: $(printf '%s' "$1" | head -c 2000)"
	return 1
}

# assert_not_contains HAYSTACK NEEDLE WHAT
assert_not_contains() {
	case "$1" in
	*"$2"*) fail "$3: unexpected '$2' in: $(printf '%s' "$1" | head -c 2000)"; return 1 ;;
	esac
	return 0
}

# wait_for SECONDS CMD...: retry CMD every 0.5 s until it succeeds.
wait_for() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 2; i++)); do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.5
	done
	fail "timed out after ${secs}s waiting for: $*"
	return 1
}

# jp KIND/NAME JSONPATH [ns]: kubectl jsonpath read.
jp() {
	local ns=()
	[ -n "${3-}" ] && ns=(-n "$3")
	$KUBECTL get "${ns[@]}" "$1" -o "jsonpath=$2" 2>/dev/null
}

# pod_phase NS NAME
pod_phase() { jp "pod/$2" '{.status.phase}' "$1"; }

# phase_is NS NAME PHASE
phase_is() { [ "$(pod_phase "$1" "$2")" = "$3" ]; }

# new_ns NAME [labels...]: create a fresh test namespace (deleted by run.sh at the end).
new_ns() {
	local ns=$1
	shift
	# A namespace of the same name from an earlier run may still terminate.
	wait_for 90 sh -c "! $KUBECTL get namespace $ns >/dev/null 2>&1"
	$KUBECTL create namespace "$ns" >/dev/null
	[ $# -gt 0 ] && $KUBECTL label namespace "$ns" "$@" >/dev/null
	echo "$ns" >>"$E2E_NS_FILE"
}

# gpu_pod NS NAME GPUS [extra yaml lines under metadata.annotations / spec]
# prints a pod manifest requesting GPUS nvidia.com/gpu.
gpu_pod_yaml() {
	local ns=$1 name=$2 gpus=$3 runfor=${4-} prio=${5-}
	cat <<Y
apiVersion: v1
kind: Pod
metadata:
  name: $name
  namespace: $ns
$( [ -n "$runfor" ] && printf '  annotations:\n    test.gpuquota.io/run-for: "%s"\n' "$runfor")
spec:
$( [ -n "$prio" ] && printf '  priorityClassName: %s\n' "$prio")
  containers:
  - name: main
    image: registry.example/train:1
    resources:
      limits:
        nvidia.com/gpu: "$gpus"
Y
}

# class_pod NS NAME GPUS RUN_FOR CLASS [FINALIZER]: a pod on the whole-GPU
# pool (weight 1 per GPU) naming CLASS, so that it may be created while no
# webhook answers (no default class is filled in then). RUN_FOR "" runs it
# until deleted; FINALIZER (a test's own) keeps it, with its final
# timestamps, until the test removes it.
class_pod() {
	local ann="" fin=""
	[ -n "$4" ] && ann="  annotations: {test.gpuquota.io/run-for: \"$4\"}"
	[ -n "${6-}" ] && fin="  finalizers: [$6]"
	$KUBECTL apply -f - >/dev/null <<Y
apiVersion: v1
kind: Pod
metadata:
  name: $2
  namespace: $1
$fin
$ann
spec:
  priorityClassName: $5
  nodeSelector: {gpuquota.io/test-pool: whole-gpu}
  containers:
  - name: main
    image: registry.example/train:1
    resources: {limits: {nvidia.com/gpu: "$3"}}
Y
}
