"""The verbs of `chaos/lab`. Run through the `chaos/lab` wrapper, which installs what is missing."""
import json
import os
import shutil
import signal
import sys
import time

from . import ec2, mariadb, net, state, topology as t, zookeeper
from .shell import LabError, log, spawn, wait_for

USAGE = """usage: chaos/lab VERB [ARGS]
  up                       build the lab, or bring a partly running one back to health
  down                     stop every lab process, remove every namespace and the state dir
  reset                    rebuild the DB tier from scratch (db1 master) and point the VIP at db1
  status [--json]          describe the lab (hosts, nodes, VIP, ZooKeeper, EC2, credentials)
  kill NODE | start NODE   SIGKILL / start a DB node's mariadbd
  freeze NODE | thaw NODE  SIGSTOP / SIGCONT a DB node's mariadbd
  isolate HOST | heal HOST cut a host off from every other host (both directions) / undo
  cut A B | uncut A B      drop only the traffic between hosts A and B / undo
  heal-all                 undo every partition
  sql TARGET "SQL" [--as admin|app|replication]
                           run SQL over TCP from the client host; TARGET is a node or `vip`
  exec HOST CMD...         run a command on a lab host
  zk-stop ZKHOST | zk-start ZKHOST
                           stop / start one ZooKeeper server
  vip-route NODE           point the VIP route in every route table at NODE's ENI (EC2 API)
hosts: """ + " ".join(h.name for h in t.HOSTS)


# ---- up / down / reset ---------------------------------------------------------------------

def dataplane_pid() -> int | None:
    p = state.load().get("dataplane_pid")
    return p if state.alive(p, "labkit.dataplane") else None


def ensure_dataplane():
    if dataplane_pid():
        return
    p = spawn(t.ROUTER_NS, [ec2.python(), "-m", "labkit.dataplane"], state.path("dataplane.log"),
              env={**os.environ, "PYTHONPATH": ec2.CHAOS_DIR})
    st = state.load()
    st["dataplane_pid"] = p
    state.save(st)


def wait_vip_route(node: t.Host, timeout: float = 10):
    """Wait until the router's kernel sends VIP traffic from every subnet to node."""
    def routed():
        for cidr, _ in t.SUBNETS.values():
            src = cidr.rsplit(".", 1)[0] + ".99"  # any address of that subnet
            p = net.in_ns(t.ROUTER_NS, ["ip", "route", "get", t.VIP, "from", src, "iif", "lo"], check=False)
            if f"via {node.ip}" not in p.stdout:
                return False
        return True
    wait_for(f"the VIP to route to {node.name}", routed, timeout)


def build_db_tier():
    """Fresh data dirs, db1 master, db2/db3 replicas, VIP route to db1."""
    # SIGKILL is asynchronous: a dying mariadbd still holds its files and port, and
    # mariadb-install-db into a directory it is still writing fails.
    dying = [(h, mariadb.pid(h)) for h in t.DB_HOSTS + t.SPARE_HOSTS if mariadb.pid(h)]
    for h, p in dying:
        state.kill(p)
    for h, p in dying:
        wait_for(f"{h.name}'s old mariadbd to exit", lambda p=p: not state.alive(p, "mariadbd"), 15)
    for h in t.DB_HOSTS + t.SPARE_HOSTS:
        mariadb.wipe(h)
    mariadb.install_db(t.DB_HOSTS)
    for h in t.DB_HOSTS:
        mariadb.start(h, wait=False)
    for h in t.DB_HOSTS:
        mariadb.wait_ready(h)
    master = t.BY_NAME[t.INITIAL_MASTER]
    mariadb.setup_replication(master, [h for h in t.DB_HOSTS if h != master])


def vip_node() -> t.Host | None:
    """The DB node every route table's VIP route points at, or None if they disagree."""
    eni_ids = (state.load().get("ec2") or {}).get("eni_ids", {})
    targets = set(ec2.vip_targets().values())
    if len(targets) != 1:
        return None
    eni = targets.pop()
    return next((t.BY_NAME[n] for n, e in eni_ids.items() if e == eni), None)


def up():
    started = time.monotonic()
    os.makedirs(state.DIR, exist_ok=True)
    net.ensure_router()
    for h in t.HOSTS:
        net.ensure_host(h)
    # a second `up` leaves a healthy lab: undo what drills may have left behind
    net.heal_all()
    for h in t.DB_HOSTS:
        p = mariadb.pid(h)
        if p and state.proc_state(p) == "T":
            state.kill(p, signal.SIGCONT)
    mariadb.write_client_configs()
    for z in t.ZK_HOSTS:
        zookeeper.start(z)
    ec2.start()
    if not ec2.seeded():
        log("seeding the EC2 API (VPC, subnets, ENIs, route tables)")
        ec2.seed()
        st = state.load()
        st.pop("db_ready", None)  # the VIP route was reset to db1: the DB tier must match it
        state.save(st)
    ensure_dataplane()

    rebuild = not state.load().get("db_ready") or not all(mariadb.initialized(h) for h in t.DB_HOSTS)
    if not rebuild:
        for h in t.DB_HOSTS:
            mariadb.start(h, wait=False)
        for h in t.DB_HOSTS:
            mariadb.wait_ready(h)
        master, problems = mariadb.health(t.DB_HOSTS)
        if master is None:
            # a killed-and-restarted master comes back read-only: if every replica still
            # follows it and the VIP still points at it, it only needs to be writable again
            followed = mariadb.followed_master(t.DB_HOSTS)
            if followed and vip_node() == followed:
                log(f"{followed.name} is followed by every replica and holds the VIP: making it writable again")
                mariadb.make_writable_master(followed)
                master, problems = mariadb.health(t.DB_HOSTS)
        if master and not problems and vip_node() != master:
            problems.append(f"the VIP routes to {vip_node() and vip_node().name}, master is {master.name}")
        if problems:
            log("DB tier unhealthy, rebuilding it: " + "; ".join(problems))
            rebuild = True
    if rebuild:
        reset_db_tier()
    zookeeper.wait_quorum()
    master, _ = mariadb.health(t.DB_HOSTS)
    wait_vip_route(master)
    log(f"lab up in {time.monotonic() - started:.1f}s: master {master.name}, VIP {t.VIP}, state in {state.DIR}")


def reset_db_tier():
    st = state.load()
    st.pop("db_ready", None)
    state.save(st)
    build_db_tier()
    eni_ids = state.load()["ec2"]["eni_ids"]
    ec2.set_vip_route(eni_ids[t.INITIAL_MASTER])
    st = state.load()
    st["db_ready"] = True
    state.save(st)


def reset():
    if not state.load().get("ec2"):
        raise LabError("the lab is not up: run `chaos/lab up`")
    net.heal_all()
    reset_db_tier()
    wait_vip_route(t.BY_NAME[t.INITIAL_MASTER])
    log("DB tier rebuilt: db1 master, db2/db3 replicas, db4 blank")


def down():
    for ns in net.lab_namespaces():
        for p in net.namespace_pids(ns):
            state.kill(p)
    st = state.load()
    for key in ("moto_pid", "dataplane_pid"):
        state.kill(st.get(key)) if state.alive(st.get(key), "") else None
    # wait for the processes to go before removing what they use
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(net.namespace_pids(ns) for ns in net.lab_namespaces()):
        time.sleep(0.05)
    net.delete_all_namespaces()
    shutil.rmtree(state.DIR, ignore_errors=True)
    left = net.lab_namespaces()
    if left:
        raise LabError(f"namespaces left behind: {', '.join(left)}")
    log("lab down: no namespace, process or state dir left")


# ---- status ----------------------------------------------------------------------------------

def status_doc() -> dict:
    st = state.load()
    ec2_state = st.get("ec2") or {}
    up_ = t.ROUTER_NS in net.existing_namespaces()

    def node_doc(h: t.Host) -> dict:
        p = mariadb.pid(h)
        proc = "stopped" if not p else ("frozen" if state.proc_state(p) == "T" else "running")
        return {
            "name": h.name, "ip": h.ip, "port": t.MYSQL_PORT, "server_id": t.server_id(h),
            "eni_id": ec2_state.get("eni_ids", {}).get(h.name), "az": h.az, "pid": p, "process": proc,
            "datadir": os.path.join(mariadb.node_dir(h), "data"), "config": mariadb.config_file(h),
        }

    users = {role: {"user": u, "password": p} for role, (u, p) in t.USERS.items()}
    return {
        "lab": t.CLUSTER,
        "up": up_,
        "ready": bool(st.get("db_ready")),
        "state_dir": state.DIR,
        "router": {"namespace": t.ROUTER_NS, "gateway": t.GATEWAY, "dataplane_pid": dataplane_pid(),
                   "dataplane_log": state.path("dataplane.log")},
        "hosts": {h.name: {"ip": h.ip, "namespace": h.ns, "role": h.role, "az": h.az,
                           "partitions": net.partitions(h) if up_ and h.ns in net.existing_namespaces() else []}
                  for h in t.HOSTS},
        "client_host": t.CLIENT.name,
        "manager_hosts": [h.name for h in t.MANAGER_HOSTS],
        "cluster": t.CLUSTER,
        "vip": t.VIP,
        "nodes": [node_doc(h) for h in t.DB_HOSTS],
        # blank DB hosts, for `myha bootstrap` (not part of the lab's cluster until then)
        "spares": [node_doc(h) for h in t.SPARE_HOSTS],
        "initial_master": t.INITIAL_MASTER,
        "users": users,
        "api": {"port": 7480, "token": t.API_TOKEN, "tokens": {**t.API_TOKENS, "admin": t.API_TOKEN}},
        "zookeeper": {
            "connect": t.zk_connect(),
            "servers": [{"host": z.name, "ip": z.ip, "port": t.ZK_CLIENT_PORT, "pid": zookeeper.pid(z)} for z in t.ZK_HOSTS],
        },
        "ec2": {
            "endpoint": t.ec2_endpoint(), "region": t.REGION,
            "access_key_id": t.AWS_ACCESS_KEY_ID, "secret_access_key": t.AWS_SECRET_ACCESS_KEY,
            "vpc_id": ec2_state.get("vpc_id"),
            "subnet_ids": list(ec2_state.get("subnet_ids", {}).values()),
            "route_table_ids": list(ec2_state.get("route_table_ids", {}).values()),
            "eni_ids": ec2_state.get("eni_ids", {}),
            "backup_bucket": t.BACKUP_BUCKET,
            "pid": ec2.pid(),
        },
    }


def status(as_json: bool):
    doc = status_doc()
    if as_json:
        print(json.dumps(doc, indent=2))
        return
    if not doc["up"]:
        print("lab is down")
        return
    print(f"lab {doc['lab']}: VIP {doc['vip']}, ZooKeeper {doc['zookeeper']['connect']}, EC2 {doc['ec2']['endpoint']}")
    for n in doc["nodes"]:
        parts = doc["hosts"][n["name"]]["partitions"]
        print(f"  {n['name']:<5} {n['ip']:<12} server_id={n['server_id']} {n['process']:<8} eni={n['eni_id']} {n['az']}"
              + (f" partitions={','.join(parts)}" if parts else ""))
    if doc["ready"]:
        master, problems = mariadb.health(t.DB_HOSTS)
        print(f"  master: {master.name if master else '?'}; VIP routes to: {(vip_node() or t.Host('?', '', '', None)).name}")
        for p in problems:
            print(f"  problem: {p}")


# ---- faults and helpers ----------------------------------------------------------------------

def sql(target: str, query: str, role: str):
    ip = t.VIP if target == "vip" else t.db_host(target).ip
    if role not in t.USERS:
        raise LabError(f"--as must be one of {', '.join(t.USERS)}")
    p = mariadb.tcp_sql(ip, query, role)
    sys.stdout.write(p.stdout)
    sys.stderr.write(p.stderr)
    return p.returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    verb, args = argv[0], argv[1:]

    def need(n: int, what: str):
        if len(args) < n:
            raise LabError(f"usage: chaos/lab {verb} {what}")

    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces)")
    if verb == "up":
        with state.locked():
            up()
    elif verb == "down":
        with state.locked():
            down()
    elif verb == "reset":
        with state.locked():
            reset()
    elif verb == "status":
        status("--json" in args)
    elif verb == "kill":
        need(1, "NODE")
        mariadb.kill(t.db_host(args[0]))
    elif verb == "start":
        need(1, "NODE")
        mariadb.start(t.db_host(args[0]))
    elif verb in ("freeze", "thaw"):
        need(1, "NODE")
        p = mariadb.pid(t.db_host(args[0]))
        if not p:
            raise LabError(f"{args[0]}: mariadbd is not running")
        state.kill(p, signal.SIGSTOP if verb == "freeze" else signal.SIGCONT)
    elif verb == "isolate":
        need(1, "HOST")
        net.isolate(t.host(args[0]))
    elif verb == "heal":
        need(1, "HOST")
        net.heal(t.host(args[0]))
    elif verb == "heal-all":
        net.heal_all()
    elif verb in ("cut", "uncut"):
        need(2, "HOST_A HOST_B")
        (net.cut if verb == "cut" else net.uncut)(t.host(args[0]), t.host(args[1]))
    elif verb == "sql":
        need(2, 'TARGET "SQL" [--as ROLE]')
        role = args[args.index("--as") + 1] if "--as" in args and args.index("--as") + 1 < len(args) else "admin"
        return sql(args[0], args[1], role)
    elif verb == "exec":
        need(2, "HOST CMD...")
        h = t.host(args[0])
        os.execvp("ip", ["ip", "netns", "exec", h.ns, *args[1:]])
    elif verb in ("zk-stop", "zk-start"):
        need(1, "ZKHOST")
        z = t.host(args[0])
        if z.role != "zookeeper":
            raise LabError(f"{z.name} is not a ZooKeeper host")
        if verb == "zk-stop":
            zookeeper.stop(z)
        else:
            zookeeper.start(z)
    elif verb == "vip-route":
        need(1, "NODE")
        node = t.db_host(args[0])
        ec2.set_vip_route(state.load()["ec2"]["eni_ids"][node.name])
        wait_vip_route(node)
    else:
        raise LabError(f"unknown verb {verb!r}\n{USAGE}")
    return 0


def entry():
    try:
        sys.exit(main(sys.argv[1:]))
    except LabError as e:
        print(f"lab: {e}", file=sys.stderr)
        sys.exit(1)
