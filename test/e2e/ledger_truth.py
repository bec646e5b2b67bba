#!/usr/bin/env python3
"""Ground truth of a team's GPU-hour ledger from the pods' own timestamps,
compared with the ledger in the allocation's status.

    ledger_truth.py PODS_JSON GTA_JSON [TOLERANCE_MICRO_PER_POD]

PODS_JSON: `kubectl get pods -o json` of the team's namespace(s), taken while
every pod is still there (the fault test holds them with a finalizer of its
own). A pod counts from status.startTime to its latest container
terminated.finishedAt (else its deletionTimestamp) times its nvidia.com/gpu
request (the pods run on the whole-GPU pool: weight 1 per GPU). GTA_JSON:
the GPUTeamAllocation; its ledger is status.usage.usedMicroGPUSeconds plus
every status.history record. Prints one JSON line:
{"pods", "truth_micro", "ledger_micro", "diff_micro", "tolerance_micro",
 "periods": [{"start", "end", "truth_micro", "ledger_micro"}...], "ok"}
and exits 1 when |ledger - truth| exceeds the tolerance (default 1 GPU-s per
pod) or a period record differs from its truth by more.
"""
import datetime
import json
import sys


def ts(s):
    """RFC 3339 UTC time (whole or fractional seconds) to milliseconds."""
    if not s:
        return None
    s = s.rstrip("Z")
    frac = 0
    if "." in s:
        s, f = s.split(".", 1)
        frac = int((f + "000")[:3])
    t = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return int(t.timestamp()) * 1000 + frac


# ts, gpus and span are also the scale benchmark's (bench/scale_ledger.py).
def gpus(pod):
    n = 0
    for c in pod["spec"].get("containers", []):
        r = c.get("resources", {})
        q = r.get("requests", {}).get("nvidia.com/gpu") or r.get("limits", {}).get("nvidia.com/gpu")
        n += int(q or 0)
    return n


def span(pod):
    st = pod.get("status", {})
    start = ts(st.get("startTime"))
    if start is None:
        return None
    end = None
    for cs in st.get("containerStatuses", []) or []:
        f = ts(cs.get("state", {}).get("terminated", {}).get("finishedAt"))
        if f is not None and (end is None or f > end):
            end = f
    if end is None:
        end = ts(pod["metadata"].get("deletionTimestamp"))
    return start, end


def main():
    pods = json.load(open(sys.argv[1]))["items"]
    gta = json.load(open(sys.argv[2]))
    tol_pod = int(sys.argv[3]) if len(sys.argv) > 3 else 1000000
    st = gta.get("status", {})
    usage = st.get("usage", {})
    periods = [(ts(usage["periodStart"]), ts(usage["accountedUntil"]), int(usage["usedMicroGPUSeconds"]))]
    for h in st.get("history", []) or []:
        periods.append((ts(h["periodStart"]), ts(h["periodEnd"]), int(h["usedMicroGPUSeconds"])))
    spans, unended = [], []
    for p in pods:
        g = gpus(p)
        s = span(p)
        if g == 0 or s is None:
            continue
        if s[1] is None:
            unended.append(p["metadata"]["name"])
            continue
        spans.append((s[0], s[1], g))
    truth = sum((e - s) * g * 1000 for s, e, g in spans)
    ledger = sum(u for _, _, u in periods)
    out = []
    worst = 0
    for ps, pe, u in periods:
        t = sum(max(0, min(e, pe) - max(s, ps)) * g * 1000 for s, e, g in spans)
        out.append({"start": ps, "end": pe, "truth_micro": t, "ledger_micro": u})
        worst = max(worst, abs(u - t))
    # Usage before the oldest record kept would be missing from the ledger.
    oldest = min(ps for ps, _, _ in periods)
    before = sum(max(0, min(e, oldest) - s) * g * 1000 for s, e, g in spans)
    tol = tol_pod * max(1, len(spans))
    diff = ledger - truth
    ok = abs(diff) <= tol and worst <= tol and before == 0 and not unended
    print(json.dumps({"pods": len(spans), "truth_micro": truth, "ledger_micro": ledger,
                      "diff_micro": diff, "tolerance_micro": tol, "worst_period_diff_micro": worst,
                      "before_oldest_period_micro": before, "unended": unended,
                      "periods": out, "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
