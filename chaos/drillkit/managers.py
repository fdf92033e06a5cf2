"""myha managers on the lab's manager hosts, started fresh for every run."""
import os
import shutil
import signal
import subprocess
import time

from .lab import CHAOS, DrillError

REPO = os.path.dirname(CHAOS)
CONFIG = os.path.join(REPO, "config", "lab.toml")


def binary() -> str:
    target = os.environ.get("CARGO_TARGET_DIR", "/var/tmp/myha-target")
    b = os.path.join(target, "debug", "myha")
    if not os.path.exists(b):
        raise DrillError(f"{b} not found: build it with `cargo build` (chaos/drill does)")
    return b


class Managers:
    def __init__(self, hosts: list[str], log_dir: str, state_dir: str):
        self.hosts = hosts
        self.log_dir = log_dir
        self.state_dir = state_dir
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, fresh_state: bool = True):
        if fresh_state:
            shutil.rmtree(self.state_dir, ignore_errors=True)
        os.makedirs(self.log_dir, exist_ok=True)
        for h in self.hosts:
            log = open(os.path.join(self.log_dir, f"{h}.log"), "a")
            env = {**os.environ, "MYHA_LOG": os.environ.get("MYHA_LOG", "info")}
            self.procs[h] = subprocess.Popen(
                ["ip", "netns", "exec", f"myha-{h}", binary(), "manager", "--config", CONFIG, "--id", h],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True, env=env)

    def log(self, host: str) -> str:
        try:
            with open(os.path.join(self.log_dir, f"{host}.log")) as f:
                return f.read()
        except OSError:
            return ""

    def wait_watching(self, timeout: float = 10):
        """Until every manager has recorded a healthy cluster."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all("nothing to do: healthy" in self.log(h) for h in self.hosts):
                return
            for h, p in self.procs.items():
                if p.poll() is not None:
                    raise DrillError(f"manager {h} exited ({p.returncode}):\n{self.log(h)[-2000:]}")
            time.sleep(0.1)
        raise DrillError("managers did not report a healthy cluster in time")

    def stop(self):
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

    def history(self) -> list[dict]:
        import json
        p = subprocess.run([binary(), "history", "--config", CONFIG, "--cluster", "lab", "--json"],
                           capture_output=True, text=True, timeout=30)
        if p.returncode != 0:
            raise DrillError(f"myha history failed: {p.stderr}")
        return json.loads(p.stdout or "[]")
