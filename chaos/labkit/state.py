"""The lab's state directory: data dirs, logs, pid records and the EC2 ids it seeded.

Everything the lab writes on disk lives under one directory (MYHA_LAB_DIR, default
/tmp/myha-lab) so that `down` can remove it in one go.
"""
import fcntl
import json
import os
import signal
from contextlib import contextmanager

DIR = os.environ.get("MYHA_LAB_DIR", "/tmp/myha-lab")
STATE_FILE = os.path.join(DIR, "state.json")


def path(*parts: str) -> str:
    return os.path.join(DIR, *parts)


def load() -> dict:
    try:
        with open(STATE_FILE) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def save(state: dict):
    os.makedirs(DIR, exist_ok=True)
    tmp = STATE_FILE + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f, indent=2, sort_keys=True)
    os.replace(tmp, STATE_FILE)


@contextmanager
def locked():
    """Serialise verbs that change the lab (two `up`s from parallel tests must not race)."""
    lock_path = os.environ.get("MYHA_LAB_LOCK", "/run/myha-lab.lock")
    with open(lock_path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def alive(pid: int | None, needle: str) -> bool:
    """True when pid runs and its command line contains needle (guards against pid reuse)."""
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return needle in cmdline and proc_state(pid) != "Z"


def proc_state(pid: int) -> str | None:
    """The one-letter kernel state: R/S/D running or sleeping, T stopped (frozen), Z zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            # the comm field may contain spaces: the state follows the last ')'
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def kill(pid: int | None, sig=signal.SIGKILL):
    if pid:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
