"""`chaos/bench-bootstrap [--sizes 100,1000] [--json FILE]`: how long a blank host takes to
become a caught-up replica from a physical backup (`myha bootstrap`: fetch, copy-back, start,
replicate from the backup's GTID) compared with a logical dump of the same data reloaded into a
fresh server (`mariadb-dump --single-transaction` of a replica, piped into `mariadb`).

Per size (MB of generated rows in `app.bench`): reset the lab, generate the rows on the master
(replicated to db2/db3), take a backup on db2, bootstrap the blank db4 from it (timed), then
make db4 blank again, install a fresh server there and reload a dump of db2 into it (timed).
Prints a table, writes JSON."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

from labkit import mariadb
from labkit import topology as t

from . import lab
from .managers import Managers

ROW_BYTES = 1000
BATCH_ROWS = 20000


def root_sql(node: str, sql: str, timeout: float = 3600) -> str:
    p = subprocess.run(["mariadb", "--no-defaults", f"--socket={mariadb.socket(t.BY_NAME[node])}", "-uroot", "-N", "-B",
                        "-e", sql], capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise lab.DrillError(f"{node}: {sql[:80]}: {p.stderr.strip()}")
    return p.stdout.strip()


def generate(mb: int):
    """`mb` MB of rows on the master (random-looking payload: no compression shortcut)."""
    root_sql("db1", "CREATE TABLE app.bench (id BIGINT PRIMARY KEY, payload VARCHAR(1000) NOT NULL) ENGINE=InnoDB")
    rows = mb * 1_000_000 // ROW_BYTES
    done = 0
    while done < rows:
        n = min(BATCH_ROWS, rows - done)
        root_sql("db1", f"INSERT INTO app.bench SELECT seq, RPAD(SHA2(seq, 256), {ROW_BYTES - 24}, MD5(seq)) "
                        f"FROM app.seq_{done + 1}_to_{done + n}")
        done += n
    # every replica has it before anything is timed
    top = root_sql("db1", "SELECT @@gtid_binlog_pos")
    for r in ("db2", "db3"):
        root_sql(r, f"SELECT MASTER_GTID_WAIT('{top}', 3600)")


def blank_db4():
    h = t.BY_NAME["db4"]
    p = mariadb.pid(h)
    if p:
        lab.lab("kill", "db4")
    mariadb.wipe(h)


def dump_reload(work: str) -> dict:
    """Dump db2 (a replica, as the backup), reload into a fresh server on db4."""
    h = t.BY_NAME["db4"]
    blank_db4()
    t0 = time.monotonic()
    mariadb.install_db([h])
    mariadb.start(h)
    t_ready = time.monotonic()
    dump = os.path.join(work, "app.sql")
    with open(dump, "w") as f:
        p = subprocess.run(["mariadb-dump", "--no-defaults", f"--socket={mariadb.socket(t.BY_NAME['db2'])}", "-uroot",
                            "--single-transaction", "--databases", "app"],
                           stdout=f, stderr=subprocess.PIPE, text=True, timeout=7200)
    if p.returncode != 0:
        raise lab.DrillError(f"mariadb-dump failed: {p.stderr.strip()}")
    t_dumped = time.monotonic()
    with open(dump) as f:
        p = subprocess.run(["mariadb", "--no-defaults", f"--socket={mariadb.socket(h)}", "-uroot"], stdin=f,
                           stderr=subprocess.PIPE, text=True, timeout=7200)
    if p.returncode != 0:
        raise lab.DrillError(f"reload failed: {p.stderr.strip()}")
    t_loaded = time.monotonic()
    size = os.path.getsize(dump)
    os.remove(dump)
    return {"install_start_s": round(t_ready - t0, 2), "dump_s": round(t_dumped - t_ready, 2),
            "reload_s": round(t_loaded - t_dumped, 2), "total_s": round(t_loaded - t0, 2), "dump_bytes": size}


def one_size(mb: int, mgrs: Managers, work: str) -> dict:
    lab.lab("reset")
    mgrs.spare = True
    mgrs.start(f"bench-{mb}-{int(time.time())}", hosts=mgrs.hosts[:1])
    try:
        mgrs.wait_watching(60)
        t0 = time.monotonic()
        generate(mb)
        gen_s = time.monotonic() - t0
        print(f"bench {mb} MB: generated in {gen_s:.1f} s", flush=True)
        t0 = time.monotonic()
        b = mgrs.backup("db2")
        backup_s = time.monotonic() - t0
        t0 = time.monotonic()
        r = mgrs.bootstrap("db4")
        bootstrap_s = time.monotonic() - t0
        rows = root_sql("db4", "SELECT COUNT(*) FROM app.bench")
        print(f"bench {mb} MB: backup {backup_s:.1f} s, bootstrap {bootstrap_s:.1f} s ({rows} rows on db4)", flush=True)
    finally:
        mgrs.stop()
    logical = dump_reload(work)
    rows_logical = root_sql("db4", "SELECT COUNT(*) FROM app.bench")
    blank_db4()
    out = {
        "size_mb": mb, "rows": int(rows), "generate_s": round(gen_s, 1),
        "backup_s": round(backup_s, 2), "backup_bytes": b["size_bytes"],
        "bootstrap_s": round(bootstrap_s, 2), "bootstrap": r,
        "dump_reload": logical, "rows_reloaded": int(rows_logical),
        "speedup": round(logical["total_s"] / bootstrap_s, 1) if bootstrap_s else None,
    }
    print(f"bench {mb} MB: dump-and-reload {logical['total_s']:.1f} s → bootstrap {out['speedup']}x faster", flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="chaos/bench-bootstrap", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100,1000", help="MB of generated rows, comma-separated (default 100,1000)")
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args(argv)
    try:
        sizes = [int(s) for s in a.sizes.split(",")]
    except ValueError:
        ap.error(f"--sizes {a.sizes!r}: expected MB numbers like 100,1000")
    if any(s < 1 or s > 20000 for s in sizes):
        ap.error("--sizes: each size must be 1 ..= 20000 MB")
    st = lab.status()
    if not st.get("ready"):
        lab.lab("up")
        st = lab.status()
    work = os.path.join(st["state_dir"], "bench", str(int(time.time())))
    os.makedirs(work, exist_ok=True)
    mgrs = Managers(st["manager_hosts"], work, os.path.join(st["state_dir"], "manager"))
    results = []
    try:
        for mb in sizes:
            results.append(one_size(mb, mgrs, work))
    finally:
        mgrs.stop()
        lab.lab("reset")
        shutil.rmtree(os.path.join(st["state_dir"], "backups"), ignore_errors=True)
    print()
    print(f"{'size':>8} {'rows':>9} {'backup':>8} {'bootstrap':>10} {'dump':>8} {'reload':>8} {'dump+reload':>12} {'speedup':>8}")
    for r in results:
        d = r["dump_reload"]
        print(f"{r['size_mb']:>6}MB {r['rows']:>9} {r['backup_s']:>7.1f}s {r['bootstrap_s']:>9.1f}s {d['dump_s']:>7.1f}s "
              f"{d['reload_s']:>7.1f}s {d['total_s']:>11.1f}s {r['speedup']:>7}x")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"results": results, "work_dir": work}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
