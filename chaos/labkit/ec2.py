"""The EC2-compatible API server (moto) on the `aws` host, and the VPC the lab seeds in it.

moto differs from AWS in ways the lab must not hide from the manager (LAB.md): create_route on
an existing destination silently overwrites, and filtering describe_route_tables by
route.network-interface-id returns HTTP 500. The lab seeds with plain create calls only.
"""
import os
import sys

from . import state
from . import topology as t
from .shell import LabError, in_ns, spawn, wait_for

CHAOS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.environ.get("MYHA_LAB_VENV", "/opt/myha-lab/venv")


def python() -> str:
    return os.path.join(VENV, "bin", "python")


def pid() -> int | None:
    p = state.load().get("moto_pid")
    return p if state.alive(p, "moto_server") else None


def start():
    p = pid()
    eni_ids = (state.load().get("ec2") or {}).get("eni_ids", {})
    if p and eni_ids and any(h.name not in eni_ids for h in t.DB_HOSTS + t.SPARE_HOSTS):
        # seeded by an older lab without every DB host: seeding again next to it would leave
        # two VPCs with the lab's tag; start from a blank API server instead
        state.kill(p)
        wait_for("the old EC2 API server to exit", lambda: not state.alive(p, "moto_server"), 10)
    elif p:
        return
    os.makedirs(state.DIR, exist_ok=True)
    p = spawn(t.AWS.ns, [os.path.join(VENV, "bin", "moto_server"), "-H", t.AWS.ip, "-p", str(t.EC2_PORT)],
              state.path("moto.log"))
    st = state.load()
    st["moto_pid"] = p
    st.pop("ec2", None)  # a new moto holds nothing: seed again
    state.save(st)
    wait_for("the EC2 API server", lambda: run_helper("ping").strip() == "ok", 30, interval=0.1)


def run_helper(*args: str) -> str:
    """Talk to moto with boto3 from the router namespace (it reaches every host)."""
    p = in_ns(t.ROUTER_NS, [python(), "-m", "labkit.ec2_client", *args], check=False, timeout=60,
              cwd=CHAOS_DIR)
    if p.returncode != 0:
        # boto3 prints a traceback; its last line says what went wrong
        lines = p.stderr.strip().splitlines()
        why = lines[-1] if lines else f"exit code {p.returncode}"
        if "Could not connect to the endpoint" in why:
            why += " — the lab's EC2 API (moto) is not running: `chaos/lab up` starts it"
        raise LabError(f"EC2 API call {args[0]} failed: {why}")
    return p.stdout


def seeded() -> dict | None:
    ec2 = state.load().get("ec2")
    if not ec2 or not pid():
        return None
    # moto keeps state in memory: check it still knows our VPC
    return ec2 if run_helper("has-vpc", ec2["vpc_id"]).strip() == "yes" else None


def seed() -> dict:
    import json
    ec2 = json.loads(run_helper("seed"))
    st = state.load()
    st["ec2"] = ec2
    state.save(st)
    return ec2


def set_vip_route(eni_id: str):
    run_helper("set-vip-route", eni_id)


def vip_targets() -> dict:
    import json
    return json.loads(run_helper("vip-targets"))


def stop():
    state.kill(pid())


if __name__ == "__main__":
    sys.exit("use chaos/lab")
