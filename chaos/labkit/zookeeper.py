"""A three-server ZooKeeper ensemble, one server per zk host, from Debian's `zookeeper` package."""
import os

from . import state, topology as t
from .shell import in_ns, spawn, wait_for

CLASSPATH = ":".join([
    "/usr/share/java/zookeeper.jar",
    "/usr/share/java/zookeeper-jute.jar",
    # the jar has no logging binding on its own class path
    "/usr/share/java/slf4j-api.jar",
    "/usr/share/java/slf4j-log4j12.jar",
    "/usr/share/java/log4j-1.2.jar",
])
# tickTime 500 ms: sessions can be as short as 1 s (2 ticks); the manager picks its own within
# [minSessionTimeout, maxSessionTimeout].
TICK_MS = 500


def zk_dir(h: t.Host) -> str:
    return state.path(h.name)


def write_config(h: t.Host):
    d = zk_dir(h)
    os.makedirs(os.path.join(d, "data"), exist_ok=True)
    with open(os.path.join(d, "data", "myid"), "w") as f:
        f.write(f"{t.zk_id(h)}\n")
    servers = "\n".join(f"server.{t.zk_id(z)}={z.ip}:2888:3888" for z in t.ZK_HOSTS)
    with open(os.path.join(d, "zoo.cfg"), "w") as f:
        f.write(f"""tickTime={TICK_MS}
initLimit=20
syncLimit=6
minSessionTimeout=1000
maxSessionTimeout=30000
dataDir={d}/data
clientPort={t.ZK_CLIENT_PORT}
clientPortAddress={h.ip}
# Jetty's admin server would take port 8080
admin.enableServer=false
4lw.commands.whitelist=srvr,ruok,mntr,stat,conf
autopurge.purgeInterval=1
{servers}
""")
    with open(os.path.join(d, "log4j.properties"), "w") as f:
        f.write(f"""log4j.rootLogger=INFO, FILE
log4j.appender.FILE=org.apache.log4j.FileAppender
log4j.appender.FILE.File={d}/zookeeper.log
log4j.appender.FILE.layout=org.apache.log4j.PatternLayout
log4j.appender.FILE.layout.ConversionPattern=%d{{ISO8601}} [myid:%X{{myid}}] %-5p %c{{1}}: %m%n
""")


def pid(h: t.Host) -> int | None:
    try:
        with open(os.path.join(zk_dir(h), "zk.pid")) as f:
            p = int(f.read())
    except (OSError, ValueError):
        return None
    return p if state.alive(p, f"{zk_dir(h)}/zoo.cfg") else None


def start(h: t.Host):
    if pid(h):
        return
    write_config(h)
    d = zk_dir(h)
    p = spawn(h.ns, ["java", "-Xmx64m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                     f"-Dlog4j.configuration=file:{d}/log4j.properties", "-cp", CLASSPATH,
                     "org.apache.zookeeper.server.quorum.QuorumPeerMain", f"{d}/zoo.cfg"],
              os.path.join(d, "stdout.log"))
    # spawn() returns the pid of `ip netns exec`, which execs java in place: same pid.
    with open(os.path.join(d, "zk.pid"), "w") as f:
        f.write(str(p))


def mode(h: t.Host) -> str | None:
    """'leader' / 'follower' once the server is part of a quorum. `ruok` answers before a
    quorum exists, so readiness is read from `srvr`."""
    p = in_ns(h.ns, ["bash", "-c", f"exec 3<>/dev/tcp/{h.ip}/{t.ZK_CLIENT_PORT}; echo srvr >&3; timeout 2 cat <&3"],
              check=False, timeout=5)
    for line in p.stdout.splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return None


def wait_quorum(timeout: float = 30):
    wait_for("a ZooKeeper quorum", lambda: all(mode(h) in ("leader", "follower") for h in t.ZK_HOSTS), timeout,
             interval=0.2)


def stop(h: t.Host):
    state.kill(pid(h))
