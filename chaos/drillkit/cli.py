"""`chaos/drill SCENARIO [--runs N] [--json FILE]`: run a drill against the lab and report.

Per run: reset the lab (db1 master), start fresh managers, start the writer, inject the
fault, heal, then check: how long until the first write acknowledged through the VIP by the
new master (failover_ms), when the manager detected the failure (detect_ms), acknowledged
writes missing on the new master (lost_acked_writes), how many nodes are writable, where the
VIP leads, and that every other node replicates from the new master (or is marked for
rebuild by the manager, never silently diverged).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import traceback
from datetime import datetime

from . import lab
from .lab import DrillError
from .managers import Managers
from .scenarios import PATIENT, SCENARIOS, STARTS, Context

WRITE_WARMUP_ACKS = 30


class Writer:
    def __init__(self, run_id: str, path: str, st: dict, patient: bool = False):
        self.path = path
        self.run_id = run_id
        venv = os.environ.get("MYHA_LAB_VENV", "/opt/myha-lab/venv")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", st["hosts"][st["client_host"]]["namespace"], f"{venv}/bin/python", "-m",
             "drillkit.writer", "--host", st["vip"], "--user", st["users"]["app"]["user"],
             "--password-file", f"{st['state_dir']}/secrets/app.password", "--run", run_id, "--out", path]
            + (["--patient", "--threads", "4", "--interval", "0.002"] if patient else []),
            cwd=lab.CHAOS, env={**os.environ, "PYTHONPATH": lab.CHAOS}, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=open(path + ".stderr", "w"), start_new_session=True)

    def lines(self) -> list[dict]:
        out = []
        try:
            with open(self.path) as f:
                for line in f:
                    try:
                        out.append(json.loads(line))
                    except json.JSONDecodeError:
                        pass  # the line being written
        except FileNotFoundError:
            pass
        return out

    def acks(self) -> list[dict]:
        return [l for l in self.lines() if "sid" in l]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def parse_ts(s: str) -> float:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def one_run(scenario: str, n: int, work: str, mgrs: Managers) -> dict:
    run = {"run": n, "ok": False, "failover_ms": None, "detect_ms": None, "lost_acked_writes": None,
           "writable_nodes": None, "vip_node": None, "error": None}
    lab.lab("reset")
    st = lab.status()
    old = st["initial_master"]
    if lab.sql("vip", "CREATE TABLE IF NOT EXISTS app.drill (run VARCHAR(64) NOT NULL, id BIGINT NOT NULL, t DOUBLE, "
                      "sid INT, PRIMARY KEY (run, id))", role="app") is None:
        raise DrillError("cannot create the drill table through the VIP")
    run_id = f"{scenario}-{n}-{int(time.time() * 1000)}"
    writer = patient = None
    try:
        if scenario in STARTS:
            STARTS[scenario](mgrs, run_id, n)
        else:
            mgrs.start(run_id)
        mgrs.wait_watching()
        writer = Writer(run_id, os.path.join(work, f"writer-{n}.jsonl"), st)
        # a second client that keeps its connection and waits for every answer (as sysbench
        # does): it sees commits a deposed master acknowledges after a freeze or a partition
        if scenario in PATIENT:
            patient = Writer(run_id + "-patient", os.path.join(work, f"patient-{n}.jsonl"), st, patient=True)
        lab.wait_for("the writer's first acknowledged writes", lambda: len(writer.acks()) >= WRITE_WARMUP_ACKS, 15, 0.05)
        ctx = Context(writer, mgrs, old, n, patient)
        outcome = SCENARIOS[scenario](ctx)
        writers = [w for w in (writer, patient) if w]
        for w in writers:
            w.stop()
        analyse(run, ctx, outcome, writers, mgrs, old, st)
    finally:
        for w in (writer, patient):
            if w:
                w.stop()
        mgrs.stop()
    return run


def analyse(run: dict, ctx: Context, outcome: dict, writers: list[Writer], mgrs: Managers, old: str, st: dict):
    problems = []
    acks = writers[0].acks()
    first = outcome.get("first_new_ack")
    if first:
        run["failover_ms"] = round((first["t"] - ctx.t_fault) * 1000)
    # let the manager finish rejoining / fencing the returning old master
    deadline = time.monotonic() + 20
    # the lab's blank host counts once a drill has bootstrapped a server on it
    spares = [n for n in lab.status().get("spares", []) if n["process"] == "running"]
    nodes = st["nodes"] + spares
    while True:
        vip_rows = lab.sql("vip", "SELECT @@server_id")
        vip_node = lab.node_by_server_id(st, vip_rows[0][0]) if vip_rows else None
        writable = [n["name"] for n in nodes if lab.read_only(n["name"]) is False]
        topo = {}
        for n in nodes:
            if n["name"] != vip_node:
                host, running = lab.replicates_from(n["name"])
                topo[n["name"]] = (host, running)
        master_ip = next((n["ip"] for n in nodes if n["name"] == vip_node), None)
        stray = [n for n, (h, r) in topo.items() if not (h == master_ip and r)]
        rebuild = mgrs.shared_state().get("needs_rebuild", {}) if stray else {}
        stray = [n for n in stray if n not in rebuild]
        if outcome.get("skip_topology_check") or (len(writable) == 1 and not stray) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    run["vip_node"] = vip_node
    run["writable_nodes"] = len(writable)
    run["needs_rebuild"] = sorted(rebuild)
    if not outcome.get("skip_topology_check"):
        if len(writable) != 1:
            problems.append(f"{len(writable)} writable nodes: {writable}")
        if stray:
            problems.append(f"not replicating from {vip_node}: {stray} ({ {n: topo[n] for n in stray} })")
        if writable and vip_node not in writable:
            problems.append(f"the VIP leads to {vip_node}, not to the writable {writable}")
    # acknowledged writes that the new master does not have, of every writer
    run["lost_acked_writes"] = 0
    run["acked_writes"] = 0
    # writes a DBA accepted to lose (a forced failover): acknowledged by this server from then on
    accepted_sid, accepted_from = outcome.get("accepted_loss", (None, float("inf")))
    if "accepted_loss" in outcome:
        run["accepted_loss"] = 0
    for w in writers:
        rows = lab.sql(vip_node or old, f"SELECT id FROM app.drill WHERE run = '{w.run_id}'") if vip_node else None
        if rows is None:
            problems.append("cannot read the drill table on the master")
            run["lost_acked_writes"] = None
            break
        present = {int(r[0]) for r in rows}
        w_acks = w.acks()
        lost = sorted(a["id"] for a in w_acks if a["id"] not in present)
        accepted = {a["id"] for a in w_acks if a["id"] not in present
                    and str(a["sid"]) == str(accepted_sid) and a["t"] >= accepted_from}
        if accepted:
            run["accepted_loss"] += len(accepted)
            lost = [i for i in lost if i not in accepted]
        run["lost_acked_writes"] += len(lost)
        run["acked_writes"] += len(w_acks)
        if lost:
            problems.append(f"lost acknowledged writes of {w.run_id}: {lost[:10]}{'...' if len(lost) > 10 else ''}"
                            f" (acknowledged by servers {sorted({a['sid'] for a in w_acks if a['id'] in set(lost)})})")
    # the largest pause between two acknowledged writes after the fault
    times = [a["t"] for a in acks if a["t"] >= ctx.t_fault - 1]
    gaps = [b - a for a, b in zip(times, times[1:])]
    run["max_write_gap_ms"] = round(max(gaps) * 1000) if gaps else None
    records = mgrs.history()
    run["failovers"] = len(records)
    expected = outcome["expect_failovers"]
    if len(records) != expected:
        problems.append(f"{len(records)} failovers recorded, expected {expected}")
    if records:
        done = [r for r in records if r.get("status") in ("ok", "degraded")]
        rec = done[0] if done else records[-1]  # the one that made the new master
        run["failover_id"] = rec["id"]
        run["record_ms"] = rec.get("total_ms")
        run["detect_ms"] = round((parse_ts(rec["detected_at"]) - ctx.t_fault) * 1000)
        run["steps"] = {s["name"]: s.get("duration_ms") for s in rec["steps"]}
        if expected and rec.get("new_master") != vip_node and not outcome.get("skip_topology_check"):
            problems.append(f"record says new master {rec.get('new_master')}, the VIP leads to {vip_node}")
    if expected and not first:
        problems.append("no write was acknowledged by a new master")
    if expected == 0:
        if vip_node != old:
            problems.append(f"the VIP moved to {vip_node}")
        lo, hi = outcome["window"]
        window = [a["t"] for a in acks if lo - 1 <= a["t"] <= hi + 1]
        wgaps = [b - a for a, b in zip(window, window[1:])]
        run["max_write_gap_ms"] = round(max(wgaps) * 1000) if wgaps else None
        if not wgaps or max(wgaps) > 1.0:
            problems.append(f"writes stopped for {run['max_write_gap_ms']} ms (limit 1000)")
    if "flap_blocked" in outcome and not outcome["flap_blocked"]:
        problems.append("the second failure was not blocked")
    problems.extend(ctx.notes)
    for k in ("takeover_ms", "pause_before", "gtid_servers", "degraded_status", "writable_samples",
              "write_pause_ms", "record_write_pause_ms", "asked", "backup_ms", "bootstrap_ms", "rebuilt",
              "forced_record", "forced_failover_ms", "unforced_exit", "stale_master", "replica_back_ms",
              "semi_sync_restored_ms", "candidate_killed_ms", "load_tps", "backlog_at_kill", "promoted_ms"):
        if k in outcome:
            run[k] = outcome[k]
    if "check" in outcome:
        problems.extend(outcome["check"](records, vip_node))
    if ctx.old_master != vip_node and expected and not outcome.get("skip_topology_check"):
        ro = lab.read_only(ctx.old_master)
        if ro is False:
            problems.append(f"old master {ctx.old_master} is writable after it returned")
    run["ok"] = not problems
    run["error"] = "; ".join(problems) or None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="chaos/drill", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--json", help="write the report here")
    ap.add_argument("--managers", type=int, default=3, choices=[1, 2, 3],
                    help="managers to run (default 3; the leader drills need at least 2)")
    ap.add_argument("--failover", action="append", default=[], metavar="KEY=VALUE",
                    help="a [failover] setting for this drill's managers, as TOML (e.g. alone='\"wait\"')")
    a = ap.parse_args(argv)
    if a.runs < 1:
        ap.error("--runs must be at least 1")
    for kv in a.failover:
        if "=" not in kv or not kv.split("=", 1)[0].strip().isidentifier():
            ap.error(f"--failover {kv!r}: expected KEY=VALUE")
    st = lab.status()
    if not st.get("ready"):
        lab.lab("up")
        st = lab.status()
    work = os.path.join(st["state_dir"], "drill", f"{a.scenario}-{int(time.time())}")
    os.makedirs(work, exist_ok=True)
    mgrs = Managers(st["manager_hosts"][: a.managers], work, os.path.join(st["state_dir"], "manager"))
    mgrs.failover_settings = list(a.failover)
    runs = []
    for n in range(1, a.runs + 1):
        try:
            r = one_run(a.scenario, n, work, mgrs)
        except Exception as e:  # noqa: BLE001 — a run that could not be carried out is a failed run
            traceback.print_exc()
            r = {"run": n, "ok": False, "failover_ms": None, "detect_ms": None, "lost_acked_writes": None,
                 "writable_nodes": None, "vip_node": None, "error": f"{type(e).__name__}: {e}"}
        runs.append(r)
        print(f"{a.scenario} run {n}: {'ok' if r['ok'] else 'FAILED'} failover_ms={r['failover_ms']} "
              f"detect_ms={r['detect_ms']} lost={r['lost_acked_writes']} writable={r['writable_nodes']} "
              f"vip={r['vip_node']} max_gap_ms={r.get('max_write_gap_ms')} takeover_ms={r.get('takeover_ms')} "
              f"write_pause_ms={r.get('write_pause_ms')} bootstrap_ms={r.get('bootstrap_ms')} "
              f"steps={r.get('steps')}"
              + (f" error={r['error']}" if r["error"] else ""), flush=True)
    times = [r["failover_ms"] for r in runs if r["failover_ms"] is not None]
    lost = [r["lost_acked_writes"] for r in runs if r["lost_acked_writes"] is not None]
    report = {
        "scenario": a.scenario,
        "runs": runs,
        "summary": {
            "runs": len(runs),
            "ok": sum(1 for r in runs if r["ok"]),
            "p50_failover_ms": round(statistics.median(times)) if times else None,
            "max_failover_ms": max(times) if times else None,
            "lost_acked_writes": sum(lost),
        },
        "managers": a.managers,
        "work_dir": work,
    }
    takeovers = [r["takeover_ms"] for r in runs if r.get("takeover_ms") is not None]
    if takeovers:
        report["summary"]["p50_takeover_ms"] = round(statistics.median(takeovers))
        report["summary"]["max_takeover_ms"] = max(takeovers)
    pauses = [r["write_pause_ms"] for r in runs if r.get("write_pause_ms") is not None]
    if pauses:
        report["summary"]["p50_write_pause_ms"] = round(statistics.median(pauses))
        report["summary"]["max_write_pause_ms"] = max(pauses)
    s = report["summary"]
    print(f"{a.scenario}: {s['ok']}/{s['runs']} ok, p50 failover {s['p50_failover_ms']} ms, "
          f"max {s['max_failover_ms']} ms, lost acked writes {s['lost_acked_writes']}"
          + (f", p50 takeover {s['p50_takeover_ms']} ms, max {s['max_takeover_ms']} ms" if "p50_takeover_ms" in s else "")
          + (f", p50 write pause {s['p50_write_pause_ms']} ms, max {s['max_write_pause_ms']} ms"
             if "p50_write_pause_ms" in s else "")
          + f"  (logs: {work})")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0 if s["ok"] == s["runs"] else 1


if __name__ == "__main__":
    sys.exit(main())
