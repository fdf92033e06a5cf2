"""Running commands: in the root namespace, or inside a lab host's network namespace."""
import subprocess
import sys
import time


class LabError(Exception):
    """A lab step failed; the message says which and why."""


def run(cmd: list[str], check: bool = True, input: str | None = None, timeout: float = 60,
        cwd: str | None = None) -> subprocess.CompletedProcess:
    try:
        p = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired:
        raise LabError(f"timed out after {timeout}s: {' '.join(cmd)}")
    if check and p.returncode != 0:
        raise LabError(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr.strip()}")
    return p


def in_ns(ns: str, cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return run(["ip", "netns", "exec", ns, *cmd], **kw)


def spawn(ns: str | None, cmd: list[str], log_path: str, env: dict | None = None) -> int:
    """Start a long-running process (detached, own session) and return its pid."""
    full = (["ip", "netns", "exec", ns] if ns else []) + cmd
    with open(log_path, "ab") as log:
        p = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                             start_new_session=True, env=env)
    return p.pid


def wait_for(what: str, check, timeout: float, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    last_err = None
    while time.monotonic() < deadline:
        try:
            r = check()
            if r:
                return r
        except Exception as e:  # the thing we wait for is not ready yet
            last_err = e
        time.sleep(interval)
    raise LabError(f"timed out after {timeout}s waiting for {what}" + (f": {last_err}" if last_err else ""))


def log(msg: str):
    print(f"lab: {msg}", file=sys.stderr, flush=True)
