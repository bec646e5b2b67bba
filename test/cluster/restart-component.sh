#!/usr/bin/env bash
# Stops one component of the local cluster and starts it again with the exact
# command line cluster-up.sh launched it with ($CLUSTER_DIR/cmd/NAME).
#
#   restart-component.sh NAME [--kill] [--down SECONDS] [--wait SECONDS]
#
# --kill     SIGKILL instead of SIGTERM (no graceful shutdown)
# --down S   stay down S seconds (may be fractional) before starting again
# --wait S   wait at most S seconds (default 60) for it to be healthy again:
#            etcd answers `endpoint health`, kube-apiserver /readyz; other
#            components only have to be running
# Exit status 0 once it is back (and healthy), 1 otherwise.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CLUSTER_DIR=${CLUSTER_DIR:-$ROOT/.cluster}
. "$ROOT/test/cluster/ports.sh"
name=${1:?usage: restart-component.sh NAME [--kill] [--down S] [--wait S]}
shift
sig=TERM down=0 wait=60
while [ $# -gt 0 ]; do
	case $1 in
	--kill) sig=KILL ;;
	--down) down=$2; shift ;;
	--wait) wait=$2; shift ;;
	*) echo "restart-component: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
cmd="$CLUSTER_DIR/cmd/$name" pidf="$CLUSTER_DIR/pids/$name.pid" log="$CLUSTER_DIR/logs/$name.log"
[ -f "$cmd" ] || { echo "restart-component: no saved command line $cmd" >&2; exit 1; }

if [ -f "$pidf" ] && pid=$(cat "$pidf") && kill -0 "$pid" 2>/dev/null &&
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$name"; then
	kill -"$sig" -- "-$pid" 2>/dev/null || kill -"$sig" "$pid"
	for ((i = 0; i < 200; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$pid" 2>/dev/null && { kill -KILL -- "-$pid" 2>/dev/null || true; sleep 0.5; }
fi
sleep "$down"
eval "set -- $(cat "$cmd")"
setsid "$@" >>"$log" 2>&1 </dev/null &
echo $! >"$pidf"

healthy() {
	case $name in
	etcd) "$CLUSTER_DIR/bin/etcdctl" --endpoints "http://127.0.0.1:$ETCD_PORT" endpoint health ;;
	kube-apiserver) "$CLUSTER_DIR/bin/kubectl" --kubeconfig "$CLUSTER_DIR/kubeconfig" get --raw /readyz ;;
	*) kill -0 "$(cat "$pidf")" ;;
	esac
}
for ((i = 0; i < wait * 5; i++)); do
	healthy >/dev/null 2>&1 && exit 0
	sleep 0.2
done
echo "restart-component: $name not healthy after ${wait}s (log $log)" >&2
exit 1
