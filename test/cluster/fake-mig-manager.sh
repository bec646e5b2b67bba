#!/usr/bin/env bash
# Test fixture (not product code): a fake of NVIDIA's mig-manager label
# protocol for the simulated nodes. When a node's nvidia.com/mig.config label
# changes it sets nvidia.com/mig.config.state=pending, then after a short delay
# rewrites the node's MIG capacity/allocatable (and the GFD count labels) to
# the named layout and sets success -- or failed for a name it does not know.
# Layouts are NVIDIA's defaults for the simulated GPU, H100-80GB, 8 per node.
#
# Usage: fake-mig-manager.sh KUBECONFIG KUBECTL     (runs until killed)
# Env:   FAKE_MIG_DELAY  seconds spent "reconfiguring" (default 2)
set -uo pipefail

KUBECONFIG=$1
KUBECTL=$2
DELAY=${FAKE_MIG_DELAY:-2}
GPUS_PER_NODE=8
PROFILES="1g.10gb 1g.20gb 2g.20gb 3g.40gb 4g.40gb 7g.80gb"

k() { "$KUBECTL" --kubeconfig "$KUBECONFIG" "$@"; }
log() { printf '%s fake-mig-manager: %s\n' "$(date -u +%FT%TZ)" "$*"; }

# layout NAME -> "profile=count-per-GPU ..." (empty: MIG off, whole GPUs);
# returns 1 for an unknown name.
layout() {
	case $1 in
	all-disabled) echo "" ;;
	all-enabled) echo "enabled" ;;
	all-1g.10gb) echo "1g.10gb=7" ;;
	all-1g.20gb) echo "1g.20gb=4" ;;
	all-2g.20gb) echo "2g.20gb=3" ;;
	all-3g.40gb) echo "3g.40gb=2" ;;
	all-4g.40gb) echo "4g.40gb=1" ;;
	all-7g.80gb) echo "7g.80gb=1" ;;
	all-balanced) echo "1g.10gb=2 2g.20gb=1 3g.40gb=1" ;;
	*) return 1 ;;
	esac
}

reconfigure() { # NODE CONFIG
	local node=$1 cfg=$2 spec
	k label node "$node" --overwrite nvidia.com/mig.config.state=pending >/dev/null
	sleep "$DELAY"
	if ! spec=$(layout "$cfg"); then
		k label node "$node" --overwrite nvidia.com/mig.config.state=failed >/dev/null
		log "$node: unknown MIG config '$cfg': failed"
		return
	fi
	local res="" labels=() p n gpus=$GPUS_PER_NODE
	[ -n "$spec" ] && gpus=0
	res="\"nvidia.com/gpu\":\"$gpus\""
	for p in $PROFILES; do
		n=0
		case " $spec " in *" $p="*) n=${spec#*"$p="}; n=${n%% *}; n=$((n * GPUS_PER_NODE)) ;; esac
		if [ "$n" -gt 0 ]; then
			res="$res,\"nvidia.com/mig-$p\":\"$n\""
			labels+=("nvidia.com/mig-$p.count=$n")
		else
			res="$res,\"nvidia.com/mig-$p\":null"
			labels+=("nvidia.com/mig-$p.count-")
		fi
	done
	k patch node "$node" --subresource=status --type=merge \
		-p "{\"status\":{\"capacity\":{$res},\"allocatable\":{$res}}}" >/dev/null
	local strategy=nvidia.com/mig.strategy-
	[ -n "$spec" ] && strategy=nvidia.com/mig.strategy=mixed
	k label node "$node" --overwrite "${labels[@]}" "$strategy" \
		"nvidia.com/gpu.replicas=$([ -n "$spec" ] && echo 0 || echo 1)" \
		nvidia.com/mig.config.state=success >/dev/null
	log "$node: applied MIG config '$cfg': success"
}

declare -A seen
log "watching nodes labelled nvidia.com/mig.config"
while true; do
	# One line per node event: name, config, state. Re-watch when the stream ends.
	while IFS='|' read -r node cfg state; do
		[ -n "$node" ] || continue
		if [ "${seen[$node]-}" = "$cfg" ]; then continue; fi
		first=${seen[$node]+no}
		seen[$node]=$cfg
		# At start-up act only on nodes not already settled (like the real one
		# re-applying once at pod start, which is a no-op for applied configs).
		if [ -z "$first" ] && [ "$state" = success ]; then continue; fi
		log "$node: nvidia.com/mig.config changed to '$cfg'"
		reconfigure "$node" "$cfg" &
	done < <(k get nodes -l nvidia.com/mig.config --watch -o \
		jsonpath='{.metadata.name}{"|"}{.metadata.labels.nvidia\.com/mig\.config}{"|"}{.metadata.labels.nvidia\.com/mig\.config\.state}{"\n"}' 2>/dev/null)
	sleep 1
done
