"""The DB nodes: config, life cycle, replication set-up and the health check.

Control-plane SQL (set-up, health) goes over each node's unix socket as root: sockets work
from the root namespace and are not affected by partitions, which is what the lab wants for
itself. Everything that should see the network (the `sql` verb, tests, the manager) uses TCP.
"""
import os
import shutil
import subprocess

from . import state, topology as t
from .shell import LabError, in_ns, run, spawn, wait_for, log

# Semi-sync timeout on the master: the production setting, the one the managers' lossless
# policy keeps on every master ([failover] semi_sync_timeout, 1 h). A master that cannot get
# an acknowledgement stalls instead of acknowledging writes no replica has — with every
# replica of the lab killed, writes on the master wait until one is back.
SEMI_SYNC_TIMEOUT_MS = 3600000


def node_dir(h: t.Host) -> str:
    return state.path(h.name)


def socket(h: t.Host) -> str:
    return os.path.join(node_dir(h), "mysqld.sock")


def config_file(h: t.Host) -> str:
    return os.path.join(node_dir(h), "my.cnf")


def write_config(h: t.Host):
    d = node_dir(h)
    os.makedirs(os.path.join(d, "data"), exist_ok=True)
    os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
    cnf = f"""[mariadbd]
datadir={d}/data
socket={d}/mysqld.sock
pid-file={d}/mysqld.pid
log_error={d}/error.log
# own temp dir: parallel servers (and mariadb-install-db runs) must not share /tmp files
tmpdir={d}/tmp
port={t.MYSQL_PORT}
bind_address=0.0.0.0
user=mysql
# identify nodes by server_id / report_host: @@hostname is the same in every namespace
server_id={t.server_id(h)}
report_host={h.name}
skip_name_resolve=ON
log_bin=mysql-bin
relay_log=relay-bin
log_slave_updates=ON
binlog_format=ROW
gtid_strict_mode=ON
sync_binlog=1
innodb_flush_log_at_trx_commit=1
# every node starts read-only: a returning old master must not take writes
read_only=ON
# a restarted replica waits for the manager: on its own it would reconnect to whatever master
# it had, possibly a deposed one that acknowledges its waiting commits through it
skip_slave_start=ON
# replicas notice a dead master in ~4 s instead of 60 s (heartbeat is set per CHANGE MASTER)
slave_net_timeout=4
rpl_semi_sync_slave_enabled=ON
rpl_semi_sync_master_enabled=OFF
rpl_semi_sync_master_wait_point=AFTER_SYNC
rpl_semi_sync_master_wait_no_slave=ON
rpl_semi_sync_master_timeout={SEMI_SYNC_TIMEOUT_MS}
# When a semi-sync replica stops its IO thread it first connects to the master to kill its
# dump thread; with a frozen or cut-off master STOP SLAVE then hangs ~2 s (measured). 1 s
# is the lowest bound (0 means none: 24 s measured).
rpl_semi_sync_slave_kill_conn_timeout=1
innodb_buffer_pool_size=32M
innodb_log_file_size=16M
performance_schema=OFF
max_connections=300
"""
    with open(config_file(h), "w") as f:
        f.write(cnf)
    run(["chown", "-R", "mysql:mysql", d])


def initialized(h: t.Host) -> bool:
    return os.path.isdir(os.path.join(node_dir(h), "data", "mysql"))


def _install(hosts: list[t.Host]) -> dict[str, str]:
    """mariadb-install-db for several nodes in parallel (0.5–3 s each); errors by node."""
    procs = []
    for h in hosts:
        write_config(h)
        cmd = ["mariadb-install-db", f"--defaults-file={config_file(h)}", "--skip-test-db",
               "--auth-root-authentication-method=normal"]
        procs.append((h, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
    errors = {}
    for h, p in procs:
        out, _ = p.communicate(timeout=120)
        if p.returncode != 0:
            try:
                with open(os.path.join(node_dir(h), "error.log")) as f:
                    err_log = "".join(f.readlines()[-15:])
            except OSError:
                err_log = "(no error.log)"
            errors[h.name] = f"{out.strip().splitlines()[-1] if out.strip() else ''}\nerror.log:\n{err_log}"
    return errors


def install_db(hosts: list[t.Host]):
    """Fresh system tables for each node; a node whose install fails is wiped and retried once."""
    errors = _install(hosts)
    if errors:
        log(f"mariadb-install-db failed for {', '.join(errors)}; retrying: {next(iter(errors.values()))}")
        retry = [h for h in hosts if h.name in errors]
        for h in retry:
            wipe(h)
        errors = _install(retry)
    if errors:
        name, err = next(iter(errors.items()))
        raise LabError(f"mariadb-install-db failed for {name}: {err}")


def pid(h: t.Host) -> int | None:
    try:
        with open(os.path.join(node_dir(h), "mysqld.pid")) as f:
            p = int(f.read().strip())
    except (OSError, ValueError):
        return None
    return p if state.alive(p, "mariadbd") else None


def start(h: t.Host, wait: bool = True):
    if pid(h):
        return
    write_config(h)
    spawn(h.ns, ["mariadbd", f"--defaults-file={config_file(h)}"], os.path.join(node_dir(h), "stdout.log"))
    if wait:
        wait_ready(h)


def wait_ready(h: t.Host, timeout: float = 60):
    wait_for(f"{h.name} to accept connections", lambda: pid(h) and ping(h), timeout)


def ping(h: t.Host) -> bool:
    p = run(["mariadb-admin", "--no-defaults", f"--socket={socket(h)}", "-uroot", "--connect-timeout=2", "ping"],
            check=False, timeout=10)
    return p.returncode == 0


def kill(h: t.Host):
    p = pid(h)
    if not p:
        raise LabError(f"{h.name}: mariadbd is not running")
    state.kill(p)
    wait_for(f"{h.name} to die", lambda: not state.alive(p, "mariadbd"), 10)


def root_sql(h: t.Host, sql: str, timeout: float = 30) -> str:
    p = run(["mariadb", "--no-defaults", f"--socket={socket(h)}", "-uroot", "-N", "-B", "-e", sql],
            check=False, timeout=timeout)
    if p.returncode != 0:
        raise LabError(f"{h.name}: SQL failed: {sql}\n{p.stderr.strip()}")
    return p.stdout.strip()


def slave_status(h: t.Host) -> dict | None:
    p = run(["mariadb", "--no-defaults", f"--socket={socket(h)}", "-uroot", "-E", "-e", "SHOW SLAVE STATUS"],
            check=False, timeout=10)
    if p.returncode != 0 or not p.stdout.strip():
        return None
    out = {}
    for line in p.stdout.splitlines():
        if ":" in line and not line.startswith("*"):
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def setup_replication(master: t.Host, replicas: list[t.Host]):
    """Users on the master (they replicate), replicas from GTID position 0, then semi-sync on."""
    admin_u, admin_p = t.USERS["admin"]
    repl_u, repl_p = t.USERS["replication"]
    app_u, app_p = t.USERS["app"]
    root_sql(master, f"""
        SET GLOBAL read_only=OFF;
        CREATE USER IF NOT EXISTS '{repl_u}'@'%' IDENTIFIED BY '{repl_p}';
        GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '{repl_u}'@'%';
        CREATE USER IF NOT EXISTS '{admin_u}'@'%' IDENTIFIED BY '{admin_p}';
        GRANT ALL PRIVILEGES ON *.* TO '{admin_u}'@'%' WITH GRANT OPTION;
        CREATE DATABASE IF NOT EXISTS app;
        CREATE USER IF NOT EXISTS '{app_u}'@'%' IDENTIFIED BY '{app_p}';
        -- no SUPER / READ_ONLY ADMIN: read_only=ON must stop the application
        GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER ON app.* TO '{app_u}'@'%';
    """)
    for r in replicas:
        change_master(r, master)
    target = root_sql(master, "SELECT @@gtid_binlog_pos")
    for r in replicas:
        wait_for(f"{r.name} to catch up with {master.name} ({target})",
                 lambda r=r: root_sql(r, "SELECT @@gtid_slave_pos") == target, 30)
    # Semi-sync master only now: with no semi-sync replica connected every commit would wait
    # for the full timeout. Only on the master: on a replica it stalls the SQL thread.
    root_sql(master, "SET GLOBAL rpl_semi_sync_master_enabled=ON")
    wait_for(f"{len(replicas)} semi-sync replicas on {master.name}",
             lambda: int(root_sql(master, "SHOW STATUS LIKE 'Rpl_semi_sync_master_clients'").split()[1]) == len(replicas), 15)


def change_master(replica: t.Host, master: t.Host):
    repl_u, repl_p = t.USERS["replication"]
    root_sql(replica, f"""
        STOP SLAVE;
        CHANGE MASTER TO MASTER_HOST='{master.ip}', MASTER_PORT={t.MYSQL_PORT},
            MASTER_USER='{repl_u}', MASTER_PASSWORD='{repl_p}', MASTER_USE_GTID=slave_pos,
            MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=1;
        START SLAVE;
    """)


def wipe(h: t.Host):
    shutil.rmtree(node_dir(h), ignore_errors=True)


def health(dbs: list[t.Host]) -> tuple[t.Host | None, list[str]]:
    """(writable master, problems). Healthy: one running writable node, every other node
    running, read-only and replicating from it with both threads running."""
    problems = []
    writable = []
    running = []
    for h in dbs:
        if not pid(h):
            problems.append(f"{h.name}: mariadbd not running")
            continue
        if state.proc_state(pid(h)) == "T":
            problems.append(f"{h.name}: frozen")
            continue
        running.append(h)
        try:
            if root_sql(h, "SELECT @@read_only", timeout=5) == "0":
                writable.append(h)
        except LabError as e:
            problems.append(f"{h.name}: {e}")
    if len(writable) != 1:
        problems.append(f"{len(writable)} writable nodes ({', '.join(w.name for w in writable) or 'none'})")
        return None, problems
    master = writable[0]
    for h in running:
        if h == master:
            continue
        s = slave_status(h)
        if not s:
            problems.append(f"{h.name}: not a replica")
        elif s.get("Master_Host") != master.ip:
            problems.append(f"{h.name}: replicates from {s.get('Master_Host')}, not {master.name}")
        elif s.get("Slave_IO_Running") != "Yes" or s.get("Slave_SQL_Running") != "Yes":
            problems.append(f"{h.name}: IO={s.get('Slave_IO_Running')} SQL={s.get('Slave_SQL_Running')} "
                            f"{s.get('Last_IO_Error') or s.get('Last_SQL_Error') or ''}".strip())
    return master, problems


def followed_master(dbs: list[t.Host]) -> t.Host | None:
    """The node every running replica replicates from, if they agree on one."""
    masters = set()
    for h in dbs:
        if not pid(h):
            continue
        st = slave_status(h)
        if st:
            masters.add(st.get("Master_Host"))
    if len(masters) != 1:
        return None
    ip = masters.pop()
    return next((h for h in dbs if h.ip == ip), None)


def make_writable_master(h: t.Host):
    """What a DBA does to a restarted master that nothing replaced: it starts read-only (as
    configured), so make it writable again and re-enable the semi-sync master side."""
    root_sql(h, "SET GLOBAL read_only=OFF; SET GLOBAL rpl_semi_sync_master_enabled=ON")


def write_client_configs():
    """Option files for `lab sql`, so passwords are not on any command line, and the password
    files config/lab.toml points at (`secrets/<role>.password`)."""
    os.makedirs(state.path("secrets"), mode=0o700, exist_ok=True)
    secrets = {f"{role}.password": password for role, (_, password) in t.USERS.items()}
    secrets["aws_secret_access_key"] = t.AWS_SECRET_ACCESS_KEY
    secrets["api.token"] = t.API_TOKEN
    for role, token in t.API_TOKENS.items():
        secrets[f"api-{role}.token"] = token
    for name, value in secrets.items():
        p = state.path("secrets", name)
        with open(p, "w") as f:
            f.write(value + "\n")
        os.chmod(p, 0o600)
    for role, (user, password) in t.USERS.items():
        p = state.path(f"client-{role}.cnf")
        with open(p, "w") as f:
            f.write(f"[client]\nuser={user}\npassword={password}\n")
        os.chmod(p, 0o600)


def tcp_sql(target_ip: str, sql: str, role: str = "admin", timeout: float = 30) -> subprocess.CompletedProcess:
    """SQL over TCP from the client host."""
    return in_ns(t.CLIENT.ns, ["mariadb", f"--defaults-extra-file={state.path(f'client-{role}.cnf')}",
                               "--protocol=TCP", f"--host={target_ip}", f"--port={t.MYSQL_PORT}",
                               "--connect-timeout=3", "-N", "-B", "-e", sql], check=False, timeout=timeout)
