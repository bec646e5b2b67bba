#!/usr/bin/env python3
"""Table and JSON of `make bench-scale` (bench/scale.sh).

    scale_report.py RESULTS LEDGER_JSON OUT_JSON TARGET_CATCHUP TARGET_RSS_MB TARGET_P2

RESULTS: "key value" lines written by scale.sh; LEDGER_JSON: the output of
scale_ledger.py. Prints the table to stdout and writes OUT_JSON.
"""
import datetime
import json
import sys


def num(v):
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v


def main():
    r = {}
    for line in open(sys.argv[1]):
        k, _, v = line.rstrip("\n").partition(" ")
        r[k] = num(v)
    ledger = json.load(open(sys.argv[2]))
    out = sys.argv[3]
    t_catchup, t_rss, t_p2 = float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
    n = r["n"]
    mb = lambda kb: round(kb / 1024, 1)
    targets = {}

    catchup = r["ready_s"] / r["raw_list_s"] if r["raw_list_s"] > 0 else None
    targets["catchup"] = {"ratio": round(catchup, 2) if catchup is not None else None,
                          "target": t_catchup, "met": catchup is not None and catchup <= t_catchup}
    rss_mb = mb(r["rss_kb"])
    targets["memory"] = {"rss_mb": rss_mb, "hwm_mb": mb(r["hwm_kb"]), "target_mb": t_rss,
                         "target_at": "50000 pods, 100 teams", "met": rss_mb <= t_rss}
    bytes_per_pod = (r["rss_kb"] - r["base_rss_kb"]) * 1024 / n if n else None
    hwm_per_pod = (r["hwm_kb"] - r["base_hwm_kb"]) * 1024 / n if n else None
    p2 = None
    if r.get("p2_render_apply_s"):
        p2 = r["p2_ctl_converge_s"] / r["p2_render_apply_s"]
        targets["p2"] = {"ratio": round(p2, 2), "target": t_p2, "met": p2 <= t_p2,
                         "ratio_vs_apply_and_enforced":
                             round(r["p2_ctl_converge_s"] / r["p2_render_apply_enforced_s"], 2)}
    exact = ledger["teams"] > 0 and ledger["exact"] == ledger["teams"] and not ledger["missing"]
    targets["ledger"] = {"exact_teams": ledger["exact"], "teams": ledger["teams"],
                         "max_abs_diff_micro": ledger["max_abs_diff_micro"], "met": exact}
    all_met = all(t["met"] for t in targets.values())

    def yn(b):
        return "met" if b else "NOT MET"

    rows = [
        ("pods (GPU, Running) / teams with pods", f"{n} / {r['pod_teams']}", "", ""),
        ("pods created / all Running", f"{r['pods_create_s']} s / {r['pods_running_s']} s", "", ""),
        ("raw LIST of the pods (best of 2)",
         f"{r['raw_list_s']} s ({r['raw_list_pages']} pages of {r['page']})", "", ""),
        ("controller ready (/readyz 200)", f"{r['ready_s']} s", "", ""),
        ("  'caches synced' log line", f"{r.get('synced_log_s', '-')} s", "", ""),
        ("  ready / raw LIST", f"{catchup:.2f}x" if catchup is not None else "-",
         f"<= {t_catchup}x", yn(targets["catchup"]["met"])),
        ("teams Ready after start", f"{r['teams_ready_s']} s", "", ""),
        ("CPU until ready / until teams Ready", f"{r['sync_cpu_s']} s / {r['teams_ready_cpu_s']} s", "", ""),
        ("VmRSS at ready", f"{mb(r['ready_rss_kb'])} MB", "", ""),
        ("VmRSS after the steady window", f"{rss_mb} MB", f"<= {t_rss:g} MB",
         yn(targets["memory"]["met"])),
        ("VmHWM", f"{mb(r['hwm_kb'])} MB", "", ""),
        ("VmRSS / VmHWM with 0 pods (baseline)", f"{mb(r['base_rss_kb'])} / {mb(r['base_hwm_kb'])} MB", "", ""),
        ("bytes per pod (RSS, HWM vs baseline)",
         f"{bytes_per_pod:.0f} / {hwm_per_pod:.0f}" if n else "-", "", ""),
        (f"steady {r['steady_window_s']} s: CPU", f"{r['steady_cpu_s']} s", "", ""),
        ("  API requests / writes per minute",
         f"{r['steady_requests_per_min']} / {r['steady_writes_per_min']}", "", ""),
        ("  lease requests / reconciles per minute",
         f"{r['steady_lease_requests_per_min']} / {r['steady_reconciles_per_min']}", "", ""),
        ("  of them quiet (arithmetic only)", f"{r.get('steady_quiet_per_min', '-')}", "", ""),
        ("ledger exact (teams)", f"{ledger['exact']} / {ledger['teams']}", "all", yn(exact)),
        ("  max |ledger - truth|", f"{ledger['max_abs_diff_micro']} uGPU-s", "", ""),
    ]
    if p2 is not None:
        rows += [
            (f"P2: {r['teams']} allocations x {r['p2_ns']} namespaces", f"{r['p2_objects']} objects", "", ""),
            ("  render | kubectl apply --server-side", f"{r['p2_render_apply_s']} s", "", ""),
            ("  ... + quotas enforced", f"{r['p2_render_apply_enforced_s']} s", "", ""),
            ("  controller start -> all Ready", f"{r['p2_ctl_converge_s']} s (ready {r['p2_ctl_ready_s']} s)", "", ""),
            ("  ... its quotas all enforced", f"{r['p2_ctl_enforced_s']} s" if "p2_ctl_enforced_s" in r else "-", "", ""),
            ("  convergence / render | apply", f"{p2:.2f}x", f"<= {t_p2}x", yn(targets["p2"]["met"])),
            ("  convergence / (render | apply + enforced)",
             f"{targets['p2']['ratio_vs_apply_and_enforced']:.2f}x", "", ""),
            ("  controller CPU / writes / RSS at convergence",
             f"{r['p2_ctl_cpu_s']} s / {r['p2_ctl_writes']} / {mb(r['p2_ctl_rss_kb'])} MB", "", ""),
            ("  deletion of the allocations (cleanup)", f"{r['p2_ctl_cleanup_s']} s", "", ""),
        ]
    w0 = max(len(a) for a, *_ in rows)
    w1 = max(len(b) for _, b, *_ in rows)
    w2 = max(len(c) for _, _, c, _ in rows)
    print(f"{'gpuquota scale':<{w0}}  {'value':<{w1}}  {'target':<{w2}}  result")
    for a, b, c, d in rows:
        print(f"{a:<{w0}}  {b:<{w1}}  {c:<{w2}}  {d}".rstrip())
    print(f"run: {r['duration_s']} s on {r['ncpu']} CPUs; ledger interval {r['ledger_interval']}, "
          f"resync {r['resync_period']}; all targets {'met' if all_met else 'NOT met'}")

    res = {
        "benchmark": "scale",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "parameters": {"n": n, "teams": r["teams"], "p2_namespaces_per_team": r["p2_ns"],
                       "pod_teams": r["pod_teams"], "nodes": r["nodes"], "page": r["page"],
                       "ledger_interval": r["ledger_interval"], "resync_period": r["resync_period"]},
        "machine": {"cpus": r["ncpu"], "loadavg_end": r["loadavg_end"]},
        "duration_s": r["duration_s"],
        "pods": {"create_s": r["pods_create_s"], "all_running_s": r["pods_running_s"]},
        "catchup": {"raw_list_s": r["raw_list_s"], "raw_list_runs_s": [float(x) for x in str(r["raw_list_runs"]).split(",")],
                    "raw_list_pages": r["raw_list_pages"], "ready_s": r["ready_s"],
                    "synced_log_s": r.get("synced_log_s"), "teams_ready_s": r["teams_ready_s"],
                    "cpu_until_ready_s": r["sync_cpu_s"], "cpu_until_teams_ready_s": r["teams_ready_cpu_s"]},
        "memory": {"ready_rss_kb": r["ready_rss_kb"], "rss_kb": r["rss_kb"], "hwm_kb": r["hwm_kb"],
                   "baseline_rss_kb": r["base_rss_kb"], "baseline_hwm_kb": r["base_hwm_kb"],
                   "baseline_ready_s": r["base_ready_s"],
                   "bytes_per_pod_rss": round(bytes_per_pod) if n else None,
                   "bytes_per_pod_hwm": round(hwm_per_pod) if n else None},
        "steady": {"window_s": r["steady_window_s"], "cpu_s": r["steady_cpu_s"],
                   "api_requests_per_min": r["steady_requests_per_min"],
                   "api_writes_per_min": r["steady_writes_per_min"],
                   "lease_requests_per_min": r["steady_lease_requests_per_min"],
                   "reconciles_per_min": r["steady_reconciles_per_min"],
                   "quiet_per_min": r.get("steady_quiet_per_min")},
        "ledger": ledger,
        "targets": targets,
        "all_met": all_met,
    }
    if p2 is not None:
        res["p2"] = {"allocations": r["teams"], "objects": r["p2_objects"],
                     "render_apply_s": r["p2_render_apply_s"],
                     "render_apply_enforced_s": r["p2_render_apply_enforced_s"],
                     "controller_ready_s": r["p2_ctl_ready_s"],
                     "controller_converge_s": r["p2_ctl_converge_s"],
                     "controller_quotas_enforced_s": r.get("p2_ctl_enforced_s"),
                     "controller_cpu_s": r["p2_ctl_cpu_s"], "controller_writes": r["p2_ctl_writes"],
                     "controller_rss_kb": r["p2_ctl_rss_kb"], "cleanup_s": r["p2_ctl_cleanup_s"]}
    json.dump(res, open(out, "w"), indent=2)
    open(out, "a").write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
