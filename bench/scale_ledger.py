#!/usr/bin/env python3
"""Exactness of the GPU-hour ledgers of many teams against the pods' own
timestamps (bench/scale.sh, `make bench-scale`).

    scale_ledger.py PODS_DIR GTAS_JSON

PODS_DIR: the pages of a paginated LIST of /api/v1/pods (files *.json, each a
PodList). GTAS_JSON: the list of GPUTeamAllocations. For every allocation
with spec.budget, its ledger (status.usage.usedMicroGPUSeconds up to
status.usage.accountedUntil, plus every status.history record) is compared
with the truth computed from its namespaces' pods: a pod counts from
status.startTime to its latest container terminated.finishedAt (else its
deletionTimestamp, else it still runs), clipped to each period
[periodStart, end), times its nvidia.com/gpu request (the benchmark's pods
run on nodes without GPU sharing: weight 1 per GPU), in micro GPU-seconds.
Prints one JSON object: teams, pods, exact (teams whose ledger equals the
truth to the micro GPU-second), max_abs_diff_micro, sum_truth_micro,
sum_ledger_micro, worst (the team with the largest difference), missing
(budget teams without a usage status).
"""
import glob
import json
import os
import sys

# The pod helpers of the e2e ledger check: one reading of a pod's GPU use.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "e2e"))
from ledger_truth import gpus, span, ts  # noqa: E402


def main():
    by_ns = {}
    n_pods = 0
    for page in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
        for p in json.load(open(page))["items"]:
            g = gpus(p)
            s = span(p)
            if g == 0 or s is None:
                continue
            by_ns.setdefault(p["metadata"]["namespace"], []).append((s[0], s[1], g))
            n_pods += 1
    gtas = json.load(open(sys.argv[2]))["items"]
    teams = exact = 0
    max_diff = 0
    worst = None
    missing = []
    sum_truth = sum_ledger = 0
    counted = 0
    for gta in gtas:
        if not gta["spec"].get("budget"):
            continue
        teams += 1
        st = gta.get("status", {})
        usage = st.get("usage")
        if not usage or "accountedUntil" not in usage:
            missing.append(gta["metadata"]["name"])
            continue
        periods = [(ts(usage["periodStart"]), ts(usage["accountedUntil"]),
                    int(usage.get("usedMicroGPUSeconds", 0)))]
        for h in st.get("history", []) or []:
            periods.append((ts(h["periodStart"]), ts(h["periodEnd"]), int(h["usedMicroGPUSeconds"])))
        spans = []
        for ns in gta["spec"].get("namespaces", []):
            spans.extend(by_ns.get(ns, []))
        counted += len(spans)
        truth = 0
        for ps, pe, _ in periods:
            for s, e, g in spans:
                end = pe if e is None else min(e, pe)
                truth += max(0, end - max(s, ps)) * g * 1000
        ledger = sum(u for _, _, u in periods)
        sum_truth += truth
        sum_ledger += ledger
        d = ledger - truth
        if d == 0:
            exact += 1
        if worst is None or abs(d) > max_diff:
            max_diff = max(max_diff, abs(d))
            worst = {"team": gta["metadata"]["name"], "pods": len(spans), "truth_micro": truth,
                     "ledger_micro": ledger, "diff_micro": d,
                     "accounted_until": usage["accountedUntil"]}
    print(json.dumps({"teams": teams, "pods": counted, "pods_listed": n_pods, "exact": exact,
                      "max_abs_diff_micro": max_diff, "sum_truth_micro": sum_truth,
                      "sum_ledger_micro": sum_ledger, "worst": worst, "missing": missing}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
