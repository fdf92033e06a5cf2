"""The drill writer: runs on the client host (`ip netns exec myha-client ...`).

Inserts (run, id) rows through the VIP every INTERVAL seconds, over a connection it keeps
until an error, then reconnects. Every line of the output file is JSON: an acknowledged
write {"id", "t", "sid"} (sid = @@server_id of the node that acknowledged it), a failed one
{"id", "t", "err"} (outcome unknown: not counted as acknowledged), or a failed connect
{"t", "connect_error"}. Stops on SIGTERM.
"""
import argparse
import json
import signal
import time

import pymysql

stop = False


def on_term(*_):
    global stop
    stop = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password-file", required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--interval", type=float, default=0.01)
    a = ap.parse_args()
    password = open(a.password_file).read().strip()
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    out = open(a.out, "w", buffering=1)
    conn, sid, i = None, None, 0
    while not stop:
        t0 = time.time()
        if conn is None:
            try:
                # Short timeouts: a connection to a dead or cut-off node must not hide the
                # moment the VIP starts answering elsewhere.
                conn = pymysql.connect(host=a.host, port=3306, user=a.user, password=password, database="app",
                                       autocommit=True, connect_timeout=0.5, read_timeout=1, write_timeout=1)
                with conn.cursor() as c:
                    c.execute("SELECT @@server_id")
                    sid = c.fetchone()[0]
            except Exception as e:  # noqa: BLE001 — every failure means "not connected yet"
                conn = None
                out.write(json.dumps({"t": time.time(), "connect_error": str(e)[:160]}) + "\n")
                time.sleep(a.interval)
                continue
        i += 1
        try:
            with conn.cursor() as c:
                c.execute("INSERT INTO drill (run, id, t, sid) VALUES (%s, %s, %s, %s)", (a.run, i, t0, sid))
            out.write(json.dumps({"id": i, "t": time.time(), "sid": sid}) + "\n")
        except Exception as e:  # noqa: BLE001
            out.write(json.dumps({"id": i, "t": time.time(), "err": str(e)[:160]}) + "\n")
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass
            conn = None
        time.sleep(max(0.0, a.interval - (time.time() - t0)))
    out.close()


if __name__ == "__main__":
    main()
