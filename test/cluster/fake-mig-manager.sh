#!/usr/bin/env bash
# Test fixture (not product code): fakes of two NVIDIA label protocols for the
# simulated nodes, in one watch loop over all nodes.
#
# mig-manager: when a node's nvidia.com/mig.config label changes it sets
# nvidia.com/mig.config.state=pending, then after a short delay rewrites the
# node's MIG capacity/allocatable (and the GFD count labels) to the named
# layout and sets success -- or failed for a name it does not know. Layouts
# are NVIDIA's defaults for the simulated GPU, H100-80GB, 8 per node.
#
# Device plugin + GPU Feature Discovery (time-slicing and MPS, with
# renameByDefault=false): when a node's nvidia.com/device-plugin.config label
# changes, after a short delay ("restarting" the plugin) it sets
# nvidia.com/gpu.replicas=R, nvidia.com/gpu.sharing-strategy=time-slicing|mps,
# nvidia.com/gpu.product=<base>-SHARED and capacity/allocatable nvidia.com/gpu =
# nvidia.com/gpu.count x R. Configs: ts-2 (time-slicing, 2), ts-4
# (time-slicing, 4), mps-2 (mps, 2). An unknown name, like the label removed,
# gives the plugin's default: replicas 1, strategy none, the base product,
# nvidia.com/gpu = nvidia.com/gpu.count (an unknown name is logged). A node
# whose GPUs are MIG-partitioned (nvidia.com/mig.strategy set or no whole GPU
# allocatable) is left alone: sharing of MIG devices is not faked. The plugin
# also re-applies its config when a MIG layout without MIG devices is applied.
#
# Both act on label changes only: the first sight of a node object (at
# start-up, or a node created later) takes what it declares as settled --
# except a MIG config whose state is not success, which is applied.
#
# Usage: fake-mig-manager.sh KUBECONFIG KUBECTL     (runs until killed)
# Env:   FAKE_MIG_DELAY  seconds spent "reconfiguring" MIG (default 2)
#        FAKE_DP_DELAY   seconds the device plugin takes to switch configs
#                        (default 1)
set -uo pipefail

KUBECONFIG=$1
KUBECTL=$2
DELAY=${FAKE_MIG_DELAY:-2}
DP_DELAY=${FAKE_DP_DELAY:-1}
GPUS_PER_NODE=8
PROFILES="1g.10gb 1g.20gb 2g.20gb 3g.40gb 4g.40gb 7g.80gb"

k() { "$KUBECTL" --kubeconfig "$KUBECONFIG" "$@"; }
log() { printf '%s fake-mig-manager: %s\n' "$(date -u +%FT%TZ)" "$*"; }
dplog() { printf '%s fake-device-plugin: %s\n' "$(date -u +%FT%TZ)" "$*"; }

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
	# Whole GPUs again: the restarted device plugin applies its config.
	[ -n "$spec" ] || dp_apply "$node"
}

# sharing NAME -> "strategy replicas" of a device plugin config; returns 1 for
# an unknown name.
sharing() {
	case $1 in
	ts-2) echo "time-slicing 2" ;;
	ts-4) echo "time-slicing 4" ;;
	mps-2) echo "mps 2" ;;
	*) return 1 ;;
	esac
}

# dp_apply NODE: the node's GPU labels and capacity for the device plugin
# config it is labelled with now (none: the default, no sharing).
dp_apply() {
	local node=$1 cur cfg count product migs alloc replicas strategy
	local want_r=1 want_s=none s want_p n
	cur=$(k get node "$node" -o jsonpath='{.metadata.labels.nvidia\.com/device-plugin\.config}{"|"}{.metadata.labels.nvidia\.com/gpu\.count}{"|"}{.metadata.labels.nvidia\.com/gpu\.product}{"|"}{.metadata.labels.nvidia\.com/mig\.strategy}{"|"}{.status.allocatable.nvidia\.com/gpu}{"|"}{.metadata.labels.nvidia\.com/gpu\.replicas}{"|"}{.metadata.labels.nvidia\.com/gpu\.sharing-strategy}' 2>/dev/null) ||
		return
	IFS='|' read -r cfg count product migs alloc replicas strategy <<<"$cur"
	if [ -n "$migs" ] || [ "${alloc:-0}" = 0 ]; then
		dplog "$node: no whole GPUs (MIG-partitioned or none): device plugin config '$cfg' not applied"
		return
	fi
	if [ -n "$cfg" ]; then
		if s=$(sharing "$cfg"); then
			read -r want_s want_r <<<"$s"
		else
			dplog "$node: unknown device plugin config '$cfg': default config (no sharing)"
		fi
	fi
	want_p=${product%-SHARED}
	[ "$want_r" -gt 1 ] && want_p=$want_p-SHARED
	n=$((${count:-0} * want_r))
	[ "$alloc $replicas $strategy $product" = "$n $want_r $want_s $want_p" ] && return
	k patch node "$node" --subresource=status --type=merge \
		-p "{\"status\":{\"capacity\":{\"nvidia.com/gpu\":\"$n\"},\"allocatable\":{\"nvidia.com/gpu\":\"$n\"}}}" >/dev/null
	k label node "$node" --overwrite "nvidia.com/gpu.replicas=$want_r" \
		"nvidia.com/gpu.sharing-strategy=$want_s" "nvidia.com/gpu.product=$want_p" >/dev/null
	dplog "$node: device plugin config '${cfg:-<none>}': $want_s, $want_r replicas, nvidia.com/gpu $n"
}

dp_reconfigure() { # NODE
	sleep "$DP_DELAY"
	dp_apply "$1"
}

declare -A seen uids dps
log "watching nodes' nvidia.com/mig.config and nvidia.com/device-plugin.config"
while true; do
	# One line per node event: name, uid, MIG config and state, device plugin
	# config. Re-watch when the stream ends.
	while IFS='|' read -r node uid cfg state dp; do
		[ -n "$node" ] || continue
		new=
		if [ "${uids[$node]-}" != "$uid" ]; then
			new=1
			uids[$node]=$uid
			unset 'seen[$node]'
			dps[$node]=$dp
		fi
		if [ -z "$new" ] && [ "${dps[$node]}" != "$dp" ]; then
			dps[$node]=$dp
			dplog "$node: nvidia.com/device-plugin.config changed to '$dp'"
			dp_reconfigure "$node" &
		fi
		if [ -z "$cfg" ]; then
			unset 'seen[$node]'
			continue
		fi
		if [ "${seen[$node]-}" = "$cfg" ]; then continue; fi
		seen[$node]=$cfg
		# A node seen for the first time is acted on only when not already
		# settled (like the real one re-applying once at pod start, which is a
		# no-op for applied configs).
		if [ -n "$new" ] && [ "$state" = success ]; then continue; fi
		log "$node: nvidia.com/mig.config changed to '$cfg'"
		reconfigure "$node" "$cfg" &
	done < <(k get nodes --watch -o \
		jsonpath='{.metadata.name}{"|"}{.metadata.uid}{"|"}{.metadata.labels.nvidia\.com/mig\.config}{"|"}{.metadata.labels.nvidia\.com/mig\.config\.state}{"|"}{.metadata.labels.nvidia\.com/device-plugin\.config}{"\n"}' 2>/dev/null)
	sleep 1
done
