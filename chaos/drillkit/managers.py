"""myha managers on the lab's manager hosts, started fresh for every run.

Every run gets its own ZooKeeper root (a copy of config/lab.toml with `root` changed), so a
run starts from empty shared state — no master of record, no anti-flap block — without
having to wipe ZooKeeper between runs."""
import json
import os
import re
import shutil
import signal
import subprocess
import time
from datetime import datetime

from .lab import CHAOS, DrillError
from .lab import status as lab_status

REPO = os.path.dirname(CHAOS)
LAB_CONFIG = os.path.join(REPO, "config", "lab.toml")
# tracing's line: "<rfc3339> LEVEL target: message fields"
STANDING = re.compile(r"^(\S+)\s+\w+\s+myha::coord::elector: (leader \(term \S+\)|standby \(.*?\)|degraded: .*?: not acting)"
                      r" cluster=lab")


def binary() -> str:
    target = os.environ.get("CARGO_TARGET_DIR", "/var/tmp/myha-target")
    b = os.path.join(target, "debug", "myha")
    if not os.path.exists(b):
        raise DrillError(f"{b} not found: build it with `cargo build` (chaos/drill does)")
    return b


def ts(s: str) -> float:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


class Managers:
    def __init__(self, hosts: list[str], log_dir: str, state_dir: str):
        self.hosts = hosts
        self.log_dir = log_dir
        self.state_dir = state_dir
        self.config = LAB_CONFIG
        self.procs: dict[str, subprocess.Popen] = {}
        # include the lab's blank host db4 in the run's config
        self.spare = False
        self.offsets: dict[str, int] = {}
        # KEY=VALUE lines added to the config's [failover] section (`chaos/drill --failover`)
        self.failover_settings: list[str] = []

    def fresh_config(self, tag: str):
        """A config for this run: its own ZooKeeper root."""
        with open(LAB_CONFIG) as f:
            text = f.read()
        root = f"/myha-drill/{tag}"
        text, n = re.subn(r'(?m)^root = ".*"$', f'root = "{root}"', text)
        if n != 1:
            raise DrillError(f"cannot set the ZooKeeper root in {LAB_CONFIG}")
        for kv in self.failover_settings:
            text, n = re.subn(r"(?m)^\[failover\]$", lambda m: f"{m.group(0)}\n{kv}", text, count=1)
            if n != 1:
                raise DrillError(f"no [failover] section in {LAB_CONFIG} to add {kv!r} to")
        if self.spare:
            # the blank host db4, highest priority: once bootstrapped it is the first candidate
            text += ('\n[[cluster.node]]\nname = "db4"\naddress = "10.88.2.14"\naz = "us-east-1b"\n'
                     'priority = 200\ndatadir = "/tmp/myha-lab/db4/data"\n')
        self.config = os.path.join(self.log_dir, f"{tag}.toml")
        with open(self.config, "w") as f:
            f.write(text)

    def start(self, tag: str, hosts: list[str] | None = None, env: dict | None = None):
        """Start managers (all by default) with a fresh state: a new ZooKeeper root and
        state dir for the first start of a run."""
        if not self.procs:
            shutil.rmtree(self.state_dir, ignore_errors=True)
            self.fresh_config(tag)
        os.makedirs(self.log_dir, exist_ok=True)
        for h in hosts or self.hosts:
            path = os.path.join(self.log_dir, f"{h}.log")
            self.offsets[h] = os.path.getsize(path) if os.path.exists(path) else 0
            log = open(path, "a")
            e = {**os.environ, "MYHA_LOG": os.environ.get("MYHA_LOG", "info"), **(env or {})}
            self.procs[h] = subprocess.Popen(
                ["ip", "netns", "exec", f"myha-{h}", binary(), "manager", "--config", self.config, "--id", h],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True, env=e)

    def log(self, host: str) -> str:
        """What the host's manager logged in this run."""
        try:
            with open(os.path.join(self.log_dir, f"{host}.log"), errors="replace") as f:
                f.seek(self.offsets.get(host, 0))
                return f.read()
        except OSError:
            return ""

    def standings(self, host: str, since: float = 0) -> list[tuple[float, str]]:
        """(time, standing) lines the host's elector logged since `since`."""
        out = []
        for line in self.log(host).splitlines():
            m = STANDING.match(line)
            if m and ts(m.group(1)) >= since:
                out.append((ts(m.group(1)), m.group(2)))
        return out

    def leader(self, since: float = 0) -> tuple[str, float] | None:
        """The running manager whose latest standing is leader, and when it became leader."""
        for h, p in self.procs.items():
            s = self.standings(h, since)
            if p.poll() is None and s and s[-1][1].startswith("leader"):
                return h, s[-1][0]
        return None

    def wait_leader(self, timeout: float = 15, since: float = 0, other_than: str | None = None) -> tuple[str, float]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            l = self.leader(since)
            if l and l[0] != other_than:
                return l
            time.sleep(0.05)
        raise DrillError(f"no manager became leader within {timeout}s")

    def wait_watching(self, timeout: float = 15):
        """Until every manager has judged the cluster healthy and one of them leads."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all("nothing to do: healthy" in self.log(h) for h in self.procs) and self.leader():
                return
            for h, p in self.procs.items():
                if p.poll() is not None:
                    raise DrillError(f"manager {h} exited ({p.returncode}):\n{self.log(h)[-2000:]}")
            time.sleep(0.1)
        raise DrillError("managers did not report a healthy cluster with a leader in time")

    def kill(self, host: str):
        """SIGKILL: no resignation, the lead ends when the session expires."""
        p = self.procs.get(host)
        if p and p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()

    def stop(self):
        self.spare = False
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for h, p in self.procs.items():
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs.clear()

    def _myha(self, *args: str, host: str = "mgr1", timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", f"myha-{host}", binary(), *args, "--config", self.config],
                              capture_output=True, text=True, timeout=timeout)

    def api(self, host: str, *args: str, st: dict | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
        """`myha ARGS --url <host's API>` from the client host, with the lab's token. Pass the
        lab's status if it is at hand (reading it takes a few hundred ms)."""
        st = st or lab_status()
        url = f"http://{st['hosts'][host]['ip']}:{st['api']['port']}"
        env = {**os.environ, "MYHA_TOKEN": st["api"]["token"]}
        return subprocess.run(["ip", "netns", "exec", st["hosts"][st["client_host"]]["namespace"], binary(), *args,
                               "--url", url], capture_output=True, text=True, timeout=timeout, env=env)

    def request(self, action: str, host: str, *args: str, wait: int = 60, st: dict | None = None) -> dict:
        """`myha switchover|failover` through `host`'s API: what the API answered
        ({"request", "record"})."""
        p = self.api(host, action, "--cluster", "lab", "--wait", str(wait), "--json", *args, st=st,
                     timeout=wait + 30)
        try:
            return json.loads(p.stdout)
        except ValueError:
            raise DrillError(f"myha {action} via {host} failed ({p.returncode}): {p.stderr.strip()}")

    def standby(self) -> str:
        """A running manager that does not lead (the leader if there is no other)."""
        leader = (self.leader() or (self.hosts[0],))[0]
        return next((h for h in self.procs if h != leader), leader)

    def on_host(self, host: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        """`myha ARGS --config <this run's config>` on a lab host (backup and bootstrap run on
        the DB node's own host), from the repository root (the lab's start/stop commands)."""
        return subprocess.run(["ip", "netns", "exec", f"myha-{host}", binary(), *args, "--config", self.config],
                              capture_output=True, text=True, timeout=timeout, cwd=REPO)

    def backup(self, host: str) -> dict:
        p = self.on_host(host, "backup", "--cluster", "lab", "--json")
        if p.returncode != 0:
            raise DrillError(f"myha backup on {host} failed ({p.returncode}): {p.stderr.strip()}")
        return json.loads(p.stdout)

    def bootstrap(self, host: str, *args: str) -> dict:
        p = self.on_host(host, "bootstrap", "--cluster", "lab", "--node", host, "--json", *args)
        if p.returncode != 0:
            raise DrillError(f"myha bootstrap on {host} failed ({p.returncode}): {p.stderr.strip()}")
        return json.loads(p.stdout)

    def history(self) -> list[dict]:
        p = self._myha("history", "--cluster", "lab", "--json")
        if p.returncode != 0:
            raise DrillError(f"myha history failed: {p.stderr}")
        return json.loads(p.stdout or "[]")

    def status(self, host: str = "mgr1") -> dict:
        """`myha status --json` for the lab cluster ({} when it cannot be read)."""
        p = self._myha("status", "--json", host=host)
        try:
            return json.loads(p.stdout)["clusters"][0]
        except (ValueError, KeyError, IndexError):
            return {}

    def shared_state(self) -> dict:
        return self.status().get("shared") or {}
