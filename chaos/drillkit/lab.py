"""The lab, as drills use it: `chaos/lab` verbs, its status, and SQL checks over TCP."""
import json
import os
import subprocess
import time

CHAOS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAB = os.path.join(CHAOS, "lab")


class DrillError(Exception):
    """A drill could not be run (not: a drill that ran and failed)."""


def lab(*args: str, check: bool = True, timeout: float = 180) -> str:
    p = subprocess.run([LAB, *args], capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise DrillError(f"chaos/lab {' '.join(args)} failed: {p.stderr.strip() or p.stdout.strip()}")
    return p.stdout


def status() -> dict:
    return json.loads(lab("status", "--json"))


def sql(target: str, query: str, role: str = "admin") -> list[list[str]] | None:
    """Rows of a query over TCP from the client host, or None when it fails."""
    p = subprocess.run([LAB, "sql", target, query, "--as", role], capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        return None
    return [line.split("\t") for line in p.stdout.splitlines() if line]


def node_by_server_id(st: dict, sid) -> str | None:
    return next((n["name"] for n in st["nodes"] + st.get("spares", []) if str(n["server_id"]) == str(sid)), None)


def read_only(node: str) -> bool | None:
    r = sql(node, "SELECT @@read_only")
    return None if r is None else r[0][0] == "1"


def replicates_from(node: str) -> tuple[str | None, bool]:
    """(Master_Host, both threads running) of a node, over TCP."""
    p = subprocess.run([LAB, "exec", "client", "mariadb", f"--defaults-extra-file={status()['state_dir']}/client-admin.cnf",
                        "--protocol=TCP", f"--host={node_ip(node)}", "--connect-timeout=3", "-E", "-e",
                        "SHOW SLAVE STATUS"], capture_output=True, text=True, timeout=30)
    if p.returncode != 0 or not p.stdout.strip():
        return None, False
    f = {}
    for line in p.stdout.splitlines():
        if ":" in line and not line.startswith("*"):
            k, v = line.split(":", 1)
            f[k.strip()] = v.strip()
    return f.get("Master_Host"), f.get("Slave_IO_Running") == "Yes" and f.get("Slave_SQL_Running") == "Yes"


_ips = {}


def node_ip(node: str) -> str:
    if not _ips:
        st = status()
        for n in st["nodes"] + st.get("spares", []):
            _ips[n["name"]] = n["ip"]
    return _ips[node]


def wait_for(what: str, check, timeout: float, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = check()
        if r:
            return r
        time.sleep(interval)
    raise DrillError(f"timed out after {timeout}s waiting for {what}")
