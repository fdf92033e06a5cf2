"""The drills. Each scenario injects its fault into a healthy lab (db1 master, writer running),
waits for the outcome, heals, and returns what happened; `cli.analyse` turns that into the
report. Failover scenarios expect exactly one failover; the others expect none."""
import os
import signal
import time

from . import lab

SETTLE_S = 1.0  # keep writing this long after the new master first acknowledged


class Context:
    """What a scenario can see and do."""

    def __init__(self, writer, managers, old_master: str):
        self.writer = writer
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

    def first_ack_elsewhere(self, after: float, not_sid, timeout: float) -> dict | None:
        """The first acknowledged write after `after` by a node whose server_id is not `not_sid`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for a in self.writer.acks():
                if a["t"] >= after and str(a["sid"]) not in {str(s) for s in not_sid}:
                    return a
            time.sleep(0.05)
        return None


def _server_id(node: str) -> int:
    return next(n["server_id"] for n in lab.status()["nodes"] if n["name"] == node)


def _failover(ctx: Context, fault: tuple, heal: tuple, timeout: float = 30) -> dict:
    ctx.fault(*fault)
    first = ctx.first_ack_elsewhere(ctx.t_fault, [_server_id(ctx.old_master)], timeout)
    if first:
        time.sleep(SETTLE_S)
    lab.lab(*heal)
    return {"expect_failovers": 1, "first_new_ack": first}


def kill_master(ctx: Context) -> dict:
    return _failover(ctx, ("kill", ctx.old_master), ("start", ctx.old_master))


def freeze_master(ctx: Context) -> dict:
    return _failover(ctx, ("freeze", ctx.old_master), ("thaw", ctx.old_master))


def isolate_master(ctx: Context) -> dict:
    return _failover(ctx, ("isolate", ctx.old_master), ("heal", ctx.old_master))


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


BLOCK_WATCH_S = 8.0


def flap(ctx: Context) -> dict:
    """Kill the master, let it fail over, then kill the new master inside the block period:
    the second death must not be failed over automatically."""
    ctx.fault("kill", ctx.old_master)
    first = ctx.first_ack_elsewhere(ctx.t_fault, [_server_id(ctx.old_master)], 30)
    if not first:
        lab.lab("start", ctx.old_master)
        return {"expect_failovers": 1, "first_new_ack": None}
    second = lab.node_by_server_id(lab.status(), first["sid"])
    time.sleep(SETTLE_S)
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


SCENARIOS = {
    "kill-master": kill_master,
    "freeze-master": freeze_master,
    "isolate-master": isolate_master,
    "manager-cut-from-master": manager_cut_from_master,
    "flap": flap,
}
