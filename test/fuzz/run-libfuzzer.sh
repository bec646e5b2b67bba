#!/usr/bin/env bash
# run-libfuzzer.sh - runs the libFuzzer builds of the fuzz targets (make fuzz).
#
# Usage: FUZZ_TIME=60 test/fuzz/run-libfuzzer.sh [name...]
#   name: a target without its fuzz_ prefix (quantity, spec, ...); none = all
#   built under build/libfuzzer/.
# Each target runs FUZZ_TIME seconds (default 60) against build/libfuzzer/
# corpus/<name>, a working copy seeded from test/fuzz/corpus/<name> (the
# committed corpus is never written; new inputs accumulate in the copy
# between runs). test/fuzz/<name>.dict is passed as -dict when present,
# FUZZ_ARGS adds libFuzzer flags. Standard input is /dev/null (a kubeconfig
# may name /dev/stdin). Logs: build/libfuzzer/log/<name>.log; crashes:
# build/libfuzzer/artifacts/<name>/. Prints a table of executions, exec/s,
# coverage (cov: edges, ft: features) and corpus size per target; exits 1
# when a target crashed, leaked or failed an invariant.
set -u
cd "$(dirname "$0")/../.."
time_s=${FUZZ_TIME:-60}
out=build/libfuzzer
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	for b in "$out"/fuzz_*; do
		[ -x "$b" ] && [ -f "$b" ] && names+=("${b##*/fuzz_}")
	done
fi
mkdir -p "$out/log"
rows=() rc=0
for n in "${names[@]}"; do
	bin=$out/fuzz_$n corpus=$out/corpus/$n art=$out/artifacts/$n/ log=$out/log/$n.log
	if [ ! -x "$bin" ]; then
		echo "run-libfuzzer: $bin not built" >&2
		rc=1
		continue
	fi
	mkdir -p "$corpus" "$art"
	[ -d "test/fuzz/corpus/$n" ] && cp -n "test/fuzz/corpus/$n"/* "$corpus"/ 2>/dev/null
	dict=()
	[ -f "test/fuzz/$n.dict" ] && dict=(-dict="test/fuzz/$n.dict")
	echo "fuzz $n: ${time_s}s (log $log)"
	# shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		"$bin" -max_total_time="$time_s" -timeout=25 -print_final_stats=1 \
		-artifact_prefix="$art" "${dict[@]}" ${FUZZ_ARGS:-} "$corpus" \
		</dev/null >"$log" 2>&1
	st=$?
	last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	files=$(find "$corpus" -type f | wc -l)
	res=ok
	if [ "$st" -ne 0 ]; then
		res="FAILED (exit $st, see $log and $art)"
		rc=1
	fi
	rows+=("$(printf '%-16s %12s %8s %7s %7s %7s  %s' "$n" "${execs:-?}" "${eps:-?}" \
		"${cov:-?}" "${ft:-?}" "$files" "$res")")
done
printf '\n%-16s %12s %8s %7s %7s %7s  %s\n' target execs exec/s cov ft corpus result
for r in "${rows[@]}"; do echo "$r"; done
exit $rc
