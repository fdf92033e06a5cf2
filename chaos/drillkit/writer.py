"""The drill writer: runs on the client host (`ip netns exec myha-client ...`).

Inserts (run, id) rows through the VIP every INTERVAL seconds, over a connection it keeps
until an error, then reconnects. By default it gives up on a statement after 1 s (so the
moment the VIP answers elsewhere shows); `--patient` waits as long as a server takes, like
sysbench or a connection pool, with `--threads` connections writing back to back: a commit
left waiting on a frozen or cut-off master is then seen to its end — an acknowledgement by a
deposed master shows up as a lost write.

Every line of the output file is JSON: an acknowledged write {"id", "t", "sid"} (sid =
@@server_id of the node that acknowledged it), a failed one {"id", "t", "err"} (outcome
unknown: not counted as acknowledged), or a failed connect {"t", "connect_error"}. Stops on
SIGTERM.
"""
import argparse
import json
import signal
import threading
import time

import pymysql

stop = False


def on_term(*_):
    global stop
    stop = True


def write(a, password: str, out, lock: threading.Lock, thread: int):
    conn, sid, i = None, None, 0
    timeout = 600 if a.patient else 1

    def emit(d: dict):
        with lock:
            out.write(json.dumps(d) + "\n")

    while not stop:
        t0 = time.time()
        if conn is None:
            try:
                # Short connect timeout: a connection to a dead or cut-off node must not hide
                # the moment the VIP starts answering elsewhere.
                conn = pymysql.connect(host=a.host, port=3306, user=a.user, password=password, database="app",
                                       autocommit=True, connect_timeout=0.5, read_timeout=timeout,
                                       write_timeout=timeout)
                with conn.cursor() as c:
                    c.execute("SELECT @@server_id")
                    sid = c.fetchone()[0]
            except Exception as e:  # noqa: BLE001 — every failure means "not connected yet"
                conn = None
                emit({"t": time.time(), "connect_error": str(e)[:160]})
                time.sleep(max(a.interval, 0.01))
                continue
        i += 1
        row = i * a.threads + thread
        try:
            with conn.cursor() as c:
                c.execute("INSERT INTO drill (run, id, t, sid) VALUES (%s, %s, %s, %s)", (a.run, row, t0, sid))
            emit({"id": row, "t": time.time(), "sid": sid})
        except Exception as e:  # noqa: BLE001
            emit({"id": row, "t": time.time(), "err": str(e)[:160]})
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass
            conn = None
        time.sleep(max(0.0, a.interval - (time.time() - t0)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password-file", required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--interval", type=float, default=0.01)
    ap.add_argument("--patient", action="store_true", help="no read timeout: wait for every answer")
    ap.add_argument("--threads", type=int, default=1, help="connections writing at once")
    a = ap.parse_args()
    password = open(a.password_file).read().strip()
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    out = open(a.out, "w", buffering=1)
    lock = threading.Lock()
    threads = [threading.Thread(target=write, args=(a, password, out, lock, t), daemon=True) for t in range(a.threads)]
    for t in threads:
        t.start()
    while not stop and any(t.is_alive() for t in threads):
        time.sleep(0.1)
    # a thread blocked on a hung server does not end by itself: the process exits anyway
    with lock:
        out.close()


if __name__ == "__main__":
    main()
