"""The drills. Each scenario injects its fault into a healthy lab (db1 master, writer running),
waits for the outcome, heals, and returns what happened; `cli.analyse` turns that into the
report. Failover scenarios expect exactly one failover; the others expect none."""
import os
import re
import signal
import statistics
import subprocess
import tempfile
import threading
import time

from . import lab

SETTLE_S = 1.0  # keep writing this long after the new master first acknowledged


class Context:
    """What a scenario can see and do."""

    def __init__(self, writer, managers, old_master: str, run: int = 1, patient=None):
        self.run = run
        self.writer = writer
        self.patient = patient
        self.managers = managers
        self.old_master = old_master
        self.t_fault = None
        self.notes: list[str] = []

    def fault(self, *lab_args: str):
        """Inject a fault; t_fault is when it took effect. Signals go straight to the server's
        pid (precise); network faults count from when `chaos/lab` has installed the rules."""
        verb, node = lab_args[0], lab_args[1] if len(lab_args) > 1 else None
        if verb in ("kill", "freeze"):
            pid = next(n["pid"] for n in lab.status()["nodes"] if n["name"] == node)
            self.t_fault = time.time()
            os.kill(pid, signal.SIGKILL if verb == "kill" else signal.SIGSTOP)
        else:
            lab.lab(*lab_args)
            self.t_fault = time.time()

    def first_ack_elsewhere(self, after: float, not_sid, timeout: float, writer=None) -> dict | None:
        """The first acknowledged write after `after` by a node whose server_id is not `not_sid`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for a in (writer or self.writer).acks():
                if a["t"] >= after and str(a["sid"]) not in {str(s) for s in not_sid}:
                    return a
            time.sleep(0.05)
        return None


def _server_id(node: str) -> int:
    return next(n["server_id"] for n in lab.status()["nodes"] if n["name"] == node)


PATIENT_S = 20.0  # longer than the lab's semi-sync timeout (10 s)


def patient_moved_on(ctx: Context, old: str, since: float):
    """After a heal: wait until the patient writer (connections that wait for every answer)
    writes on a new master — its commits left waiting on the old one end first, acknowledged
    or not — so that every acknowledgement a deposed master gives is in the report."""
    if ctx.patient is None:
        return
    if not ctx.first_ack_elsewhere(since, [_server_id(old)], PATIENT_S, writer=ctx.patient):
        ctx.notes.append(f"the patient writer did not write on a new master within {PATIENT_S:.0f} s of the heal")


def _failover(ctx: Context, fault: tuple, heal: tuple, timeout: float = 30) -> dict:
    ctx.fault(*fault)
    first = ctx.first_ack_elsewhere(ctx.t_fault, [_server_id(ctx.old_master)], timeout)
    if first:
        time.sleep(SETTLE_S)
    t_heal = time.time()
    lab.lab(*heal)
    if first:
        patient_moved_on(ctx, ctx.old_master, t_heal)
    return {"expect_failovers": 1, "first_new_ack": first}


def kill_master(ctx: Context) -> dict:
    return _failover(ctx, ("kill", ctx.old_master), ("start", ctx.old_master))


def replicas_applier_stopped(ctx: Context) -> dict:
    """A DBA stopped the applier of both replicas (`STOP SLAVE SQL_THREAD`, no error); writes go
    on for 2 s (received, not applied); then the master is killed. A stopped applier is not a
    broken one: the candidate's catch-up starts it, and a writable master follows."""
    old = ctx.old_master
    for r in [n["name"] for n in lab.status()["nodes"] if n["name"] != old]:
        _root_sql(r, "STOP SLAVE SQL_THREAD")
    time.sleep(2.0)
    return _failover(ctx, ("kill", old), ("start", old))


REPLICA_BACK_S = 8.0  # under failover.alone = "wait": the down replica returns this long after the kill


def replica_down_then_kill(ctx: Context) -> dict:
    """A replica is down (killed) when the master dies: the other replica is promoted with no
    replica left to follow it. Under `failover.alone = "async"` (the default) it takes writes
    within seconds with semi-sync off; under `"wait"` every commit waits for a replica, and
    the down one returns REPLICA_BACK_S after the kill. Either way, once the returning replica
    replicates from the new master, the new master has the lossless semi-sync again."""
    old = ctx.old_master
    down = [n["name"] for n in lab.status()["nodes"] if n["name"] != old][-1]
    lab.lab("kill", down)
    time.sleep(1.5)  # every manager has seen it down
    ctx.fault("kill", old)
    first = ctx.first_ack_elsewhere(ctx.t_fault, [_server_id(old)], REPLICA_BACK_S)
    t_back = time.time()
    lab.lab("start", down)
    if not first:
        first = ctx.first_ack_elsewhere(ctx.t_fault, [_server_id(old)], 30)
    out = {"expect_failovers": 1, "first_new_ack": first, "replica_back_ms": round((t_back - ctx.t_fault) * 1000)}
    if not first:
        lab.lab("start", old)
        return out
    new = lab.node_by_server_id(lab.status(), first["sid"])
    time.sleep(SETTLE_S)
    t_heal = time.time()
    lab.lab("start", old)
    patient_moved_on(ctx, old, t_heal)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = lab.sql(new, "SELECT @@rpl_semi_sync_master_enabled, @@rpl_semi_sync_master_wait_no_slave, "
                            "@@rpl_semi_sync_master_timeout")
        if rows and rows[0][:2] == ["1", "1"]:
            out["semi_sync_restored_ms"] = round((time.time() - t_back) * 1000)
            break
        time.sleep(0.2)
    else:
        ctx.notes.append(f"{new} did not get the lossless semi-sync back within 30 s of {down}'s return")
    return out


def freeze_master(ctx: Context) -> dict:
    return _failover(ctx, ("freeze", ctx.old_master), ("thaw", ctx.old_master))


def isolate_master(ctx: Context) -> dict:
    return _failover(ctx, ("isolate", ctx.old_master), ("heal", ctx.old_master))


STALE_CUT_S = 3.0  # a dozen probe rounds


def stale_master_returns(ctx: Context) -> dict:
    """The master freezes and is failed over; then every manager is cut off from the new
    master while the old one thaws — writable, with the writes of before the freeze only. One
    snapshot then shows one writable node, the stale one: it must be fenced (read-only, or
    marked for rebuild), never taken for the master, and nothing acknowledged by the new
    master may be lost."""
    old = ctx.old_master
    ctx.fault("freeze", old)
    first = ctx.first_ack_elsewhere(ctx.t_fault, [_server_id(old)], 30)
    if not first:
        lab.lab("thaw", old)
        return {"expect_failovers": 1, "first_new_ack": None}
    new = lab.node_by_server_id(lab.status(), first["sid"])
    time.sleep(SETTLE_S)
    for m in ctx.managers.hosts:
        lab.lab("cut", m, new)
    time.sleep(0.5)  # the managers' probes of the new master fail from now on
    lab.lab("thaw", old)
    time.sleep(STALE_CUT_S)
    for m in ctx.managers.hosts:
        lab.lab("uncut", m, new)
    patient_moved_on(ctx, old, ctx.t_fault)
    time.sleep(SETTLE_S)
    master = ctx.managers.shared_state().get("master")
    if master != new:
        ctx.notes.append(f"the master of record is {master}, not the new master {new}")
    return {"expect_failovers": 1, "first_new_ack": first, "stale_master": old}


LOSSLESS_WAIT_S = 10.0  # [failover] lossless_wait (default)


def _root_sql(node: str, sql: str):
    """SQL as root over the node's unix socket: the lab's own control path, not cut by partitions."""
    p = subprocess.run(["mariadb", "--no-defaults", f"--socket={lab.status()['state_dir']}/{node}/mysqld.sock", "-uroot",
                        "-e", sql], capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise lab.DrillError(f"{sql!r} on {node} failed: {p.stderr.strip()}")


def master_cut_from_replicas(ctx: Context) -> dict:
    """The master is cut off from both replicas (the managers still reach it), then killed.

    Odd runs — the lossless semi-sync the managers keep on the master: its commits wait for a
    replica and are never acknowledged alone, so the failover after the kill loses nothing
    and runs at once.

    Even runs — a DBA switches semi-sync off on the cut-off master to get writes going: it
    acknowledges them alone, and the managers see it. After the kill, promoting a replica
    would lose them: the failover is refused and the refusal recorded (after
    `lossless_wait`), nothing is promoted; asked without force, a manual failover is refused
    with the loss named; with `--force` it runs. The writes acknowledged after semi-sync was
    switched off are the loss the DBA accepted (reported apart); nothing else may be lost."""
    old = ctx.old_master
    old_sid = _server_id(old)
    replicas = [n["name"] for n in lab.status()["nodes"] if n["name"] != old]
    for r in replicas:
        lab.lab("cut", old, r)
    out = {"expect_failovers": 1}
    lossy = ctx.run % 2 == 0
    time.sleep(2.0)  # commits stall: no replica can acknowledge them
    if lossy:
        t_off = time.time()
        _root_sql(old, "SET GLOBAL rpl_semi_sync_master_enabled=OFF")
        out["accepted_loss"] = (old_sid, t_off)
        time.sleep(2.0)  # acknowledged by the master alone
        if not [a for a in ctx.writer.acks() if a["t"] >= t_off and str(a["sid"]) == str(old_sid)]:
            ctx.notes.append("the master acknowledged nothing with semi-sync off")
    ctx.fault("kill", old)
    if not lossy:
        first = ctx.first_ack_elsewhere(ctx.t_fault, [old_sid], 30)
        out["first_new_ack"] = first
        if first:
            time.sleep(SETTLE_S)
    else:
        early = ctx.first_ack_elsewhere(ctx.t_fault, [old_sid], LOSSLESS_WAIT_S + 4)
        if early:
            ctx.notes.append(f"a failover that loses acknowledged writes ran: server {early['sid']} acknowledged")
        st = lab.status()
        via = ctx.managers.standby()
        p = ctx.managers.api(via, "failover", "--cluster", "lab", "--wait", "0", st=st)
        out["unforced_exit"] = p.returncode
        if p.returncode != 75 or "would lose" not in p.stderr:
            ctx.notes.append(f"a manual failover without force was not refused with the loss named: "
                             f"exit {p.returncode}: {p.stderr.strip()[:300]}")
        t_forced = time.time()
        answer = ctx.managers.request("failover", via, "--force", st=st)
        rec = answer.get("record") or {}
        out["forced_record"] = {"status": rec.get("status"), "new_master": rec.get("new_master")}
        if rec.get("kind") != "manual" or rec.get("status") not in ("ok", "degraded"):
            ctx.notes.append(f"the forced failover's record says {rec.get('kind')} {rec.get('status')}: {rec.get('errors')}")
        first = ctx.first_ack_elsewhere(t_forced, [old_sid], 15)
        out["first_new_ack"] = first
        out["expect_failovers"] = 2  # the recorded refusal, then the forced failover
        if first:
            out["forced_failover_ms"] = round((first["t"] - t_forced) * 1000)
            time.sleep(SETTLE_S)

        def check(records: list[dict], vip_node: str) -> list[str]:
            problems = []
            refusals = [r for r in records if r["kind"] == "automatic" and r["status"] == "failed"
                        and any(s["name"] == "lossless check" and "would lose" in s["detail"] for s in r["steps"])]
            if len(refusals) != 1:
                problems.append(f"{len(refusals)} recorded refusals (expected 1)")
            forced = [r for r in records if r["kind"] == "manual"
                      and any("FORCED" in s["detail"] for s in r["steps"])]
            if len(forced) != 1:
                problems.append(f"{len(forced)} forced manual failovers recorded (expected 1)")
            return problems

        out["check"] = check
    t_heal = time.time()
    for r in replicas:
        lab.lab("uncut", old, r)
    lab.lab("start", old)
    if out.get("first_new_ack"):
        patient_moved_on(ctx, old, t_heal - 30)
    return out


CUT_S = 10.0  # well past the replicas' slave_net_timeout (4 s) and the detector's windows


def manager_cut_from_master(ctx: Context) -> dict:
    """Every manager loses the master, the replicas do not: no failover, no write outage."""
    ctx.t_fault = time.time()
    for m in ctx.managers.hosts:
        lab.lab("cut", m, ctx.old_master)
    time.sleep(CUT_S)
    for m in ctx.managers.hosts:
        lab.lab("uncut", m, ctx.old_master)
    time.sleep(1.0)
    return {"expect_failovers": 0, "first_new_ack": None, "window": (ctx.t_fault, ctx.t_fault + CUT_S)}


EC2_CUT_BEFORE_S = 2.5  # longer than the leader's 2 s VIP refresh: one is in flight, hanging


def ec2_hangs(ctx: Context) -> dict:
    """Every manager is cut off from the EC2 API (packets dropped: calls hang until the SDK's
    timeouts), long enough that the leader's periodic look at the route tables is in flight;
    then the master is killed. Promoting the database needs nothing from EC2: a node must be
    writable as fast as in kill-master. The VIP follows once EC2 answers again (the cut is
    healed a second after the promotion); nothing is lost."""
    old = ctx.old_master
    for m in ctx.managers.hosts:
        lab.lab("cut", m, "aws")
    try:
        time.sleep(EC2_CUT_BEFORE_S)
        ctx.fault("kill", old)
        others = [n["name"] for n in lab.status()["nodes"] if n["name"] != old]
        promoted = None
        deadline = time.monotonic() + 30
        while promoted is None and time.monotonic() < deadline:
            promoted = next((n for n in others if lab.read_only(n) is False), None)
            if promoted is None:
                time.sleep(0.05)
        promoted_ms = round((time.time() - ctx.t_fault) * 1000) if promoted else None
        time.sleep(1.0)
    finally:
        for m in ctx.managers.hosts:
            lab.lab("uncut", m, "aws")
    first = ctx.first_ack_elsewhere(ctx.t_fault, [_server_id(old)], 60)
    if first:
        time.sleep(SETTLE_S)
    t_heal = time.time()
    lab.lab("start", old)
    if first:
        patient_moved_on(ctx, old, t_heal)
    if promoted is None:
        ctx.notes.append("no node became writable within 30 s of the kill while EC2 hung")
    return {"expect_failovers": 1, "first_new_ack": first, "promoted_ms": promoted_ms}


BLOCK_WATCH_S = 8.0


ARMED = "the anti-flap block holds from now"


def flap(ctx: Context) -> dict:
    """Kill the master, let it fail over, wait until the new master served (the block is
    armed: config/lab.toml served_before_block), then kill it inside the block period: the
    second death must not be failed over automatically."""
    ctx.fault("kill", ctx.old_master)
    first = ctx.first_ack_elsewhere(ctx.t_fault, [_server_id(ctx.old_master)], 30)
    if not first:
        lab.lab("start", ctx.old_master)
        return {"expect_failovers": 1, "first_new_ack": None}
    second = lab.node_by_server_id(lab.status(), first["sid"])
    time.sleep(SETTLE_S)
    try:
        lab.wait_for("the block to be armed", lambda: any(ARMED in ctx.managers.log(h) for h in ctx.managers.hosts), 30)
    except lab.DrillError as e:
        ctx.notes.append(str(e))
    t2 = time.time()
    lab.lab("kill", second)
    third = ctx.first_ack_elsewhere(t2, [_server_id(ctx.old_master), first["sid"]], BLOCK_WATCH_S)
    blocked = any("automatic failover blocked" in ctx.managers.log(h) for h in ctx.managers.hosts)
    if third:
        ctx.notes.append(f"a second failover happened inside the block period (writes acknowledged by server {third['sid']})")
    if not blocked:
        ctx.notes.append("no manager logged that the second failover was blocked")
    # put the cluster back: both dead nodes return; the next run resets the lab anyway
    lab.lab("start", ctx.old_master)
    lab.lab("start", second)
    return {"expect_failovers": 1, "first_new_ack": first, "flap_second_master": second,
            "flap_blocked": blocked and not third, "skip_topology_check": True}


# --- several managers: leadership under manager and ZooKeeper faults -------------------------

SESSION_TIMEOUT_S = 4.0  # config/lab.toml [zookeeper] session_timeout
OBSERVE_S = 10.0


def _need_standbys(ctx: Context):
    if len(ctx.managers.procs) < 2:
        raise lab.DrillError("this drill needs at least two managers (--managers 2 or 3)")


def _takeover(ctx: Context, old_leader: str, limit_s: float) -> dict:
    """Wait for another manager to lead; note it when that took longer than `limit_s`."""
    new, at = ctx.managers.wait_leader(timeout=30, since=ctx.t_fault, other_than=old_leader)
    ms = round((at - ctx.t_fault) * 1000)
    if ms > limit_s * 1000:
        ctx.notes.append(f"{new} took the lead after {ms} ms (limit {limit_s * 1000:.0f})")
    return {"new_leader": new, "takeover_ms": ms}


class WritableWatch:
    """Samples, from the fault on, how many nodes are writable (must be exactly one
    throughout) and which servers acknowledge the writer's writes (must be the master)."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.samples: list[tuple[float, list[str]]] = []
        self.stop_ = threading.Event()
        self.nodes = [n["name"] for n in lab.status()["nodes"]]
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop_.is_set():
            writable = [n for n in self.nodes if lab.read_only(n) is False]
            self.samples.append((time.time(), writable))
            self.stop_.wait(0.5)

    def finish(self, t0: float):
        self.stop_.set()
        self.thread.join()
        bad = [(round(t - t0, 1), w) for t, w in self.samples if len(w) != 1]
        if bad:
            self.ctx.notes.append(f"not exactly one writable node at (s after the fault, writable): {bad[:5]}")
        sid = str(_server_id(self.ctx.old_master))
        others = {str(a["sid"]) for a in self.ctx.writer.acks() if a["t"] >= t0 and str(a["sid"]) != sid}
        if others:
            self.ctx.notes.append(f"writes acknowledged by servers {sorted(others)}, not only the master {sid}")
        return len(self.samples)


def _quiet(ctx: Context, t_end: float, watch: WritableWatch) -> dict:
    """A drill that must not fail over: writes through the VIP across the whole window."""
    time.sleep(max(0.0, t_end - time.time()))
    time.sleep(1.0)
    return {"expect_failovers": 0, "first_new_ack": None, "window": (ctx.t_fault, t_end),
            "writable_samples": watch.finish(ctx.t_fault)}


def kill_leader_manager(ctx: Context) -> dict:
    """SIGKILL the leading manager: a standby leads within the session timeout; no failover."""
    _need_standbys(ctx)
    leader, _ = ctx.managers.wait_leader()
    watch = WritableWatch(ctx)
    ctx.t_fault = time.time()
    ctx.managers.kill(leader)
    out = _takeover(ctx, leader, SESSION_TIMEOUT_S + 1.5)
    out.update(_quiet(ctx, ctx.t_fault + OBSERVE_S, watch))
    return out


def isolate_leader_manager(ctx: Context) -> dict:
    """Cut the leading manager's host off from everything: it stops acting (degraded), a
    standby leads; after healing, the old leader follows the new one."""
    _need_standbys(ctx)
    leader, _ = ctx.managers.wait_leader()
    watch = WritableWatch(ctx)
    ctx.fault("isolate", leader)
    out = _takeover(ctx, leader, SESSION_TIMEOUT_S + 1.5)
    time.sleep(max(0.0, ctx.t_fault + OBSERVE_S - time.time()))
    degraded = [t for t, s in ctx.managers.standings(leader, ctx.t_fault) if s.startswith("degraded")]
    if not degraded:
        ctx.notes.append(f"the isolated leader {leader} never logged that it stopped acting")
    elif degraded[0] - ctx.t_fault > SESSION_TIMEOUT_S:
        ctx.notes.append(f"the isolated leader stopped acting only after {degraded[0] - ctx.t_fault:.1f} s")
    t_heal = time.time()
    lab.lab("heal", leader)
    lab.wait_for(f"{leader} to follow {out['new_leader']} after healing",
                 lambda: any(s.startswith(f"standby (leader: {out['new_leader']})")
                             for _, s in ctx.managers.standings(leader, t_heal)), 30, 0.1)
    out.update(_quiet(ctx, time.time(), watch))
    out["window"] = (ctx.t_fault, t_heal + 1)
    return out


ZK_OUTAGE_S = 20.0


def zk_quorum_loss(ctx: Context) -> dict:
    """Stop two of the three ZooKeeper servers for 20 s: nobody acts, nothing fails over,
    writes go on, status says degraded; afterwards a manager leads again."""
    _need_standbys(ctx)
    watch = WritableWatch(ctx)
    ctx.fault("zk-stop", "zk1")
    lab.lab("zk-stop", "zk2")
    time.sleep(SESSION_TIMEOUT_S + 1)
    st = ctx.managers.status()
    coord = st.get("coordination") or {}
    out = {"degraded_status": not coord.get("reachable", True)}
    if coord.get("reachable", True):
        ctx.notes.append(f"myha status did not report the coordinator unreachable: {coord}")
    for h in ctx.managers.procs:
        if not any(s.startswith("degraded") for _, s in ctx.managers.standings(h, ctx.t_fault)):
            ctx.notes.append(f"{h} did not log that it stopped acting")
    time.sleep(max(0.0, ctx.t_fault + ZK_OUTAGE_S - time.time()))
    t_back = time.time()
    lab.lab("zk-start", "zk1")
    lab.lab("zk-start", "zk2")
    new, at = ctx.managers.wait_leader(timeout=60, since=t_back)
    out["takeover_ms"] = round((at - t_back) * 1000)  # here: from the servers' restart to a leader
    out.update(_quiet(ctx, time.time(), watch))
    out["window"] = (ctx.t_fault, t_back + 1)
    return out


def start_with_paused_leader(mgrs, tag: str, run: int):
    """kill-leader-mid-failover: the first manager leads and carries the chaos hook; the
    others start once it leads, without it."""
    step = "promote" if run % 2 else "move VIP"
    mgrs.start(tag, hosts=mgrs.hosts[:1], env={"MYHA_CHAOS_PAUSE_BEFORE": step})
    mgrs.wait_leader()
    mgrs.start(tag, hosts=mgrs.hosts[1:])


def _hooked_leader(ctx: Context) -> str:
    """The first manager, started with the chaos hook: it must be the one leading."""
    leader = ctx.managers.hosts[0]
    if (ctx.managers.leader() or ("",))[0] != leader:
        raise lab.DrillError(f"{leader} (with the chaos hook) does not lead")
    return leader


CANDIDATE_PAUSE_MS = 1500  # the leader's pause before promote, in which the candidate is killed


def start_pausing_before_promote(mgrs, tag: str, run: int):
    """candidate-dies: the first manager leads and pauses CANDIDATE_PAUSE_MS before its first
    promotion; the others start once it leads, without the hook."""
    mgrs.start(tag, hosts=mgrs.hosts[:1],
               env={"MYHA_CHAOS_PAUSE_BEFORE": "promote", "MYHA_CHAOS_PAUSE_MS": str(CANDIDATE_PAUSE_MS)})
    mgrs.wait_leader()
    mgrs.start(tag, hosts=mgrs.hosts[1:])


def candidate_dies(ctx: Context) -> dict:
    """Kill the master; while the leader's failover is about to promote its candidate (it
    pauses there, CANDIDATE_PAUSE_MS), kill the candidate. That attempt fails; the next one
    promotes the remaining replica, and history holds both attempts, each its own record."""
    leader = _hooked_leader(ctx)
    old_sid = _server_id(ctx.old_master)
    ctx.fault("kill", ctx.old_master)
    lab.wait_for(f"{leader} to pause before promote",
                 lambda: "before promote" in ctx.managers.log(leader), 20, 0.02)
    m = re.search(r"failing over: promoting (db\d+)", ctx.managers.log(leader))
    if not m:
        raise lab.DrillError(f"{leader} paused before promote but did not say whom it promotes")
    candidate = m.group(1)
    lab.lab("kill", candidate)
    t_candidate = time.time()
    first = ctx.first_ack_elsewhere(ctx.t_fault, [old_sid, _server_id(candidate)], 30)
    if first:
        time.sleep(SETTLE_S)
    lab.lab("start", ctx.old_master)
    lab.lab("start", candidate)

    def check(records: list[dict], vip_node: str) -> list[str]:
        problems = []
        ids = [r["id"] for r in records]
        if len(set(ids)) != len(ids):
            problems.append(f"two attempts share a record id: {ids}")
        failed = [r for r in records if r["status"] == "failed"]
        promoted = [r for r in records
                    if any(s["name"].startswith("promote ") and s["status"] == "ok" for s in r["steps"])]
        if not failed:
            problems.append("no record of the attempt whose candidate died")
        if len(promoted) != 1:
            problems.append(f"{len(promoted)} records with a promotion (expected exactly 1)")
        return problems

    return {"expect_failovers": 2, "first_new_ack": first, "check": check,
            "candidate_killed_ms": round((t_candidate - ctx.t_fault) * 1000)}


def gtid_servers(node: str) -> set[str]:
    """server_ids in the node's binlog GTID state: who ever wrote as a master."""
    rows = lab.sql(node, "SELECT @@gtid_binlog_state")
    if not rows or not rows[0][0]:
        return set()
    return {g.split("-")[1] for g in rows[0][0].split(",") if g.count("-") == 2}


def kill_leader_mid_failover(ctx: Context) -> dict:
    """Kill the master; the leader starts the failover and pauses before a guarded step
    (odd runs: before promote, even runs: after it, before the route move); kill the leader
    there. A standby takes over and the failover completes exactly once."""
    _need_standbys(ctx)
    step = "promote" if ctx.run % 2 else "move VIP"
    leader = _hooked_leader(ctx)
    old_sid = _server_id(ctx.old_master)
    ctx.fault("kill", ctx.old_master)
    lab.wait_for(f"{leader} to pause before {step}",
                 lambda: f"pausing 60s before {step}" in ctx.managers.log(leader), 20, 0.02)
    ctx.managers.kill(leader)
    first = ctx.first_ack_elsewhere(ctx.t_fault, [old_sid], 40)
    if first:
        time.sleep(SETTLE_S)
    new_master = lab.node_by_server_id(lab.status(), first["sid"]) if first else None
    servers = gtid_servers(new_master) if new_master else set()
    lab.lab("start", ctx.old_master)

    def check(records: list[dict], vip_node: str) -> list[str]:
        problems = []
        promoted = [r for r in records
                    if any(s["name"].startswith("promote ") and s["status"] == "ok" for s in r["steps"])]
        running = [r["id"] for r in records if r["status"] == "running"]
        if len(promoted) != 1:
            problems.append(f"{len(promoted)} records with a promotion (expected exactly 1)")
        if running:
            problems.append(f"records left running: {running}")
        if step == "move VIP" and not any(
                s["name"].startswith("taken over by") for r in records for s in r["steps"]):
            problems.append("no record shows the take-over of the unfinished failover")
        extra = servers - {str(old_sid), str(first["sid"]) if first else ""}
        if extra:
            problems.append(f"the new master's GTID state has writes from servers {sorted(extra)}: a second promotion")
        return problems

    return {"expect_failovers": 2 if step == "promote" else 1,
            "first_new_ack": first, "pause_before": step, "gtid_servers": sorted(servers), "check": check}


def switchover(ctx: Context) -> dict:
    """A planned switchover asked of a standby manager's API (the leader runs it): no
    acknowledged write lost, writes pause briefly (write_pause_ms: last write acknowledged by
    the old master to the first acknowledged by the new one, both through the VIP), and the
    old master replicates from the new one afterwards (checked by the analysis)."""
    via = ctx.managers.standby()
    st = lab.status()
    old_sid = _server_id(ctx.old_master)
    ctx.t_fault = time.time()
    answer = ctx.managers.request("switchover", via, st=st)
    rec = answer.get("record") or {}
    first = ctx.first_ack_elsewhere(ctx.t_fault, [old_sid], 15)
    out = {"expect_failovers": 1, "first_new_ack": first, "record_write_pause_ms": rec.get("write_pause_ms"),
           "asked": via}
    if rec.get("status") != "ok" or rec.get("kind") != "switchover":
        ctx.notes.append(f"the switchover record says {rec.get('kind')} {rec.get('status')}: {rec.get('errors')}")
    if first:
        last_old = max((a["t"] for a in ctx.writer.acks() if str(a["sid"]) == str(old_sid) and a["t"] <= first["t"]),
                       default=None)
        if last_old is not None:
            out["write_pause_ms"] = round((first["t"] - last_old) * 1000)
        time.sleep(SETTLE_S)
    return out


PAUSED_WATCH_S = 3.0


def manual_failover(ctx: Context) -> dict:
    """Automation paused, the master killed: nothing fails over until a DBA asks a standby's
    API for a failover to db3; then exactly that. failover_ms counts from the request."""
    st = lab.status()
    via = ctx.managers.standby()
    p = ctx.managers.api(via, "pause", "--cluster", "lab", st=st)
    if p.returncode != 0:
        raise lab.DrillError(f"myha pause failed: {p.stderr.strip()}")
    old_sid = _server_id(ctx.old_master)
    ctx.fault("kill", ctx.old_master)
    early = ctx.first_ack_elsewhere(ctx.t_fault, [old_sid], PAUSED_WATCH_S)
    if early:
        ctx.notes.append(f"writes acknowledged by server {early['sid']} while automation was paused")
    ctx.t_fault = time.time()
    answer = ctx.managers.request("failover", via, "--to", "db3", st=st)
    rec = answer.get("record") or {}
    if rec.get("kind") != "manual" or rec.get("status") not in ("ok", "degraded") or rec.get("new_master") != "db3":
        ctx.notes.append(f"the record says {rec.get('kind')} {rec.get('status')} to {rec.get('new_master')}: "
                         f"{rec.get('errors')}")
    first = ctx.first_ack_elsewhere(ctx.t_fault, [old_sid], 15)
    if first:
        time.sleep(SETTLE_S)
    lab.lab("start", ctx.old_master)
    return {"expect_failovers": 1, "first_new_ack": first, "asked": via}


# --- backups and bootstrap ------------------------------------------------------------------

def with_spare(mgrs, tag: str, run: int):
    """Managers whose config has the lab's blank host db4 (highest priority)."""
    mgrs.spare = True
    mgrs.start(tag)


def _replicates_from(node: str, master: str) -> bool:
    host, running = lab.replicates_from(node)
    return running and host == lab.node_ip(master)


def _same_rows(ctx: Context, node: str, master: str) -> list[str]:
    """Problems if `node` lacks any drill row the master had a moment ago (the writer inserts
    ids in order, so rows up to the master's current highest id are final)."""
    top = lab.sql(master, "SELECT COALESCE(MAX(id), 0) FROM app.drill")
    if not top:
        return [f"cannot read the drill table on {master}"]
    q = f"SELECT COUNT(*), COALESCE(SUM(id), 0) FROM app.drill WHERE id <= {int(top[0][0])}"
    want = lab.sql(master, q)
    try:
        lab.wait_for(f"{node} to hold {master}'s rows", lambda: lab.sql(node, q) == want, 30, 0.2)
    except lab.DrillError:
        return [f"{node} has rows (count, sum of ids) {lab.sql(node, q)}, the master {want}"]
    return []


def add_replica(ctx: Context) -> dict:
    """A backup on db2, then the blank host db4 bootstraps itself from it while the writer
    keeps writing: it ends replicating from the master with every row; no failover, no
    write pause."""
    ctx.t_fault = time.time()
    b = ctx.managers.backup("db2")
    r = ctx.managers.bootstrap("db4")
    if not _replicates_from("db4", ctx.old_master):
        ctx.notes.append(f"db4 does not replicate from {ctx.old_master}: {lab.replicates_from('db4')}")
    out = _quiet(ctx, time.time(), WritableWatch(ctx))
    ctx.notes.extend(_same_rows(ctx, "db4", ctx.old_master))
    out.update({"backup_ms": _ms(b["started_at"], b["finished_at"]), "bootstrap": r, "bootstrap_ms": r["total_ms"]})
    return out


def _ms(a: str, b: str) -> int:
    from datetime import datetime
    p = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()  # noqa: E731
    return round((p(b) - p(a)) * 1000)


def kill_master_after_bootstrap(ctx: Context) -> dict:
    """db4 bootstraps from a backup, then the master is killed: db4 (highest priority, as up
    to date as any) is promoted — a bootstrapped replica is a valid candidate."""
    ctx.managers.backup("db2")
    ctx.managers.bootstrap("db4")
    lab.wait_for("db4 to be healthy in the managers' eyes",
                 lambda: "db4" not in (ctx.managers.shared_state().get("needs_rebuild") or {}), 15, 0.2)
    time.sleep(1.0)
    out = _failover(ctx, ("kill", ctx.old_master), ("start", ctx.old_master))
    first = out.get("first_new_ack")
    if first and lab.node_by_server_id(lab.status(), first["sid"]) != "db4":
        ctx.notes.append(f"server {first['sid']} was promoted, not the bootstrapped db4")
    return out


def rebuild_old_master(ctx: Context) -> dict:
    """The master is cut off and writes on its own (a divergent transaction) while the others
    fail over; healed, it is marked for rebuild. A backup of the new timeline, then
    `myha bootstrap --rebuild` on it: it replicates from the new master, without the divergent
    row, and is no longer marked."""
    old = ctx.old_master
    ctx.fault("isolate", old)
    first = ctx.first_ack_elsewhere(ctx.t_fault, [_server_id(old)], 30)
    out = {"expect_failovers": 1, "first_new_ack": first}
    if not first:
        lab.lab("heal", old)
        return out
    new_master = lab.node_by_server_id(lab.status(), first["sid"])
    # cut off, the old master takes a write of its own (as an in-flight commit would, once its
    # semi-sync wait gives up: switched off here so the drill need not wait for that)
    p = subprocess.run(["mariadb", "--no-defaults", f"--socket={lab.status()['state_dir']}/{old}/mysqld.sock", "-uroot",
                        "-e", "SET GLOBAL rpl_semi_sync_master_enabled=OFF; "
                              "INSERT INTO app.drill (run, id, t, sid) VALUES ('divergent', 1, 0, 0)"],
                       capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise lab.DrillError(f"the divergent write on {old} failed: {p.stderr.strip()}")
    time.sleep(SETTLE_S)
    lab.lab("heal", old)
    try:
        lab.wait_for(f"{old} to be marked for rebuild",
                     lambda: old in (ctx.managers.shared_state().get("needs_rebuild") or {}), 30, 0.5)
    except lab.DrillError as e:
        ctx.notes.append(str(e))
        return out
    replica = next(n["name"] for n in lab.status()["nodes"] if n["name"] not in (old, new_master))
    ctx.managers.backup(replica)
    r = ctx.managers.bootstrap(old, "--rebuild")
    if not _replicates_from(old, new_master):
        ctx.notes.append(f"{old} does not replicate from {new_master} after the rebuild")
    if lab.sql(new_master, "SELECT COUNT(*) FROM app.drill WHERE run = 'divergent'") != [["0"]]:
        ctx.notes.append("the divergent row reached the new master")
    if lab.sql(old, "SELECT COUNT(*) FROM app.drill WHERE run = 'divergent'") != [["0"]]:
        ctx.notes.append(f"the divergent row is still on {old}")
    lab.wait_for(f"{old} to be unmarked", lambda: old not in (ctx.managers.shared_state().get("needs_rebuild") or {}),
                 15, 0.5)
    out.update({"bootstrap": r, "bootstrap_ms": r["total_ms"], "rebuilt": old})
    return out


LAG_S = 30.0  # lagging-replicas: how long the appliers stay stopped under load
LOAD_THREADS = 8
SB_ARGS = ["oltp_write_only", "--tables=4", "--table-size=20000"]


class Load:
    """sysbench (a client nobody here wrote) writing through the VIP from the client host. The
    password goes in a 0600 config file, never in argv."""

    def __init__(self):
        st = lab.status()
        self.dir = tempfile.TemporaryDirectory(prefix="myha-load-")
        cfg = os.path.join(self.dir.name, "sysbench.cfg")
        fd = os.open(cfg, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            password = open(f"{st['state_dir']}/secrets/app.password").read().strip()
            f.write(f"mysql-host={st['vip']}\nmysql-user={st['users']['app']['user']}\nmysql-password={password}\n"
                    f"mysql-db=app\nthreads={LOAD_THREADS}\n")
        self.cmd = ["ip", "netns", "exec", st["hosts"][st["client_host"]]["namespace"], "sysbench",
                    f"--config-file={cfg}", *SB_ARGS]
        self.proc = None

    def prepare(self):
        p = subprocess.run(self.cmd + ["prepare"], capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise lab.DrillError(f"sysbench prepare failed: {p.stderr.strip()[-300:]}")

    def start(self, seconds: float):
        self.log = open(os.path.join(self.dir.name, "run.log"), "w")
        self.proc = subprocess.Popen(self.cmd + [f"--time={int(seconds)}", "--report-interval=5", "run"],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def tps(self) -> float | None:
        """The mean of sysbench's 5 s reports so far."""
        try:
            rates = [float(m) for m in re.findall(r"tps: ([0-9.]+)", open(self.log.name).read())]
        except OSError:
            return None
        return round(statistics.mean(rates), 1) if rates else None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc:
            self.log.close()
        self.dir.cleanup()


def _backlog(node: str, master_seq: int) -> int | None:
    """Transactions of the master's domain 0 that `node` received but has not applied."""
    rows = lab.sql(node, "SELECT @@gtid_slave_pos")
    if not rows:
        return None
    seqs = [int(g.split("-")[2]) for g in rows[0][0].split(",") if g.startswith("0-")]
    return master_seq - max(seqs) if seqs else None


def lagging_replicas(ctx: Context) -> dict:
    """Both replicas' appliers stopped for LAG_S under sysbench load (LOAD_THREADS connections
    through the VIP), started again, and the master killed at once: the candidate must apply
    LAG_S of relay log before it may take writes (lossless). How long that outage lasts is the
    point; nothing acknowledged may be lost."""
    old = ctx.old_master
    replicas = [n["name"] for n in lab.status()["nodes"] if n["name"] != old]
    load = Load()
    try:
        load.prepare()
        load.start(LAG_S + 60)
        time.sleep(2.0)
        for r in replicas:
            _root_sql(r, "STOP SLAVE SQL_THREAD")
        time.sleep(LAG_S)
        for r in replicas:
            _root_sql(r, "START SLAVE SQL_THREAD")
        rows = lab.sql(old, "SELECT @@gtid_binlog_pos")
        master_seq = int(rows[0][0].split("-")[2]) if rows else 0
        backlog = {r: _backlog(r, master_seq) for r in replicas}
        tps = load.tps()
        out = _failover(ctx, ("kill", old), ("start", old), timeout=LAG_S * 6)
    finally:
        load.stop()
    out.update({"load_tps": tps, "backlog_at_kill": backlog})
    return out


# Scenarios that also run the patient writer (4 connections that wait for every answer, back
# to back): where a frozen or cut-off master holds commits waiting for an acknowledgement. Its
# load (~1000 commits/s) keeps the replicas seconds behind, which would dominate the timing of
# the others (a killed master's candidate must first apply its relay log).
PATIENT = {"freeze-master", "isolate-master", "stale-master-returns", "master-cut-from-replicas"}

STARTS = {"kill-leader-mid-failover": start_with_paused_leader, "candidate-dies": start_pausing_before_promote,
          "add-replica": with_spare,
          "kill-master-after-bootstrap": with_spare}

SCENARIOS = {
    "kill-master": kill_master,
    "replicas-applier-stopped": replicas_applier_stopped,
    "lagging-replicas": lagging_replicas,
    "freeze-master": freeze_master,
    "replica-down-then-kill": replica_down_then_kill,
    "isolate-master": isolate_master,
    "manager-cut-from-master": manager_cut_from_master,
    "stale-master-returns": stale_master_returns,
    "master-cut-from-replicas": master_cut_from_replicas,
    "flap": flap,
    "kill-leader-manager": kill_leader_manager,
    "isolate-leader-manager": isolate_leader_manager,
    "zk-quorum-loss": zk_quorum_loss,
    "kill-leader-mid-failover": kill_leader_mid_failover,
    "candidate-dies": candidate_dies,
    "ec2-hangs": ec2_hangs,
    "switchover": switchover,
    "manual-failover": manual_failover,
    "add-replica": add_replica,
    "kill-master-after-bootstrap": kill_master_after_bootstrap,
    "rebuild-old-master": rebuild_old_master,
}
