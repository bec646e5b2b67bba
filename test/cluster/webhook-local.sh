#!/usr/bin/env bash
# Registers the admission webhook with the local cluster for a controller run
# outside the cluster: the same MutatingWebhookConfiguration as
# manifests/webhook.yaml, but pointing at https://127.0.0.1:PORT (the
# controller injects its CA bundle at start).
#
# Usage: webhook-local.sh KUBECTL-COMMAND PORT
set -euo pipefail
KUBECTL=$1
PORT=$2
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
sed -e '/^---$/,$!d' -e '1d' "$ROOT/manifests/webhook.yaml" |
	sed -e '/^    clientConfig:$/,/^        port: 443$/c\    clientConfig:\n      url: https://127.0.0.1:'"$PORT"'/admit/pods' |
	$KUBECTL apply --server-side --force-conflicts -f - >/dev/null
