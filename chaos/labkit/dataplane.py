"""The VPC data plane: the router's kernel routes follow the EC2 API's route tables.

Runs in the router namespace (`python -m labkit.dataplane`). Every POLL_S it reads the lab
VPC's route tables and, as a VPC does, applies each table to the traffic *from the subnets
associated with it*: one kernel table per EC2 route table, chosen by `ip rule from <subnet>`,
holding `DEST/32 via <private IP of the target ENI>` for every /32 route to an ENI. A manager
that moves the VIP in only one route table therefore moves only that subnet's clients.

When the EC2 API does not answer, the kernel routes stay as they are: on AWS, too, the data
plane keeps forwarding while the control plane is unreachable.
"""
import subprocess
import sys
import time

from . import topology as t
from .aws_session import ec2_client

POLL_S = 0.05
TABLE_BASE = 100
RULE_PRIORITY_BASE = 1000


def log(msg: str):
    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"
    print(f"{ts} {msg}", flush=True)


def ip(*args: str):
    p = subprocess.run(["ip", *args], capture_output=True, text=True)
    if p.returncode != 0:
        log(f"ip {' '.join(args)} failed: {p.stderr.strip()}")


class DataPlane:
    def __init__(self):
        self.ec2 = ec2_client(timeout=1.0)
        self.subnet_cidrs: dict[str, str] = {}
        self.eni_ips: dict[str, str] = {}
        self.table_ids: dict[str, int] = {}
        # applied kernel state: table id -> {dest: next hop}, and rule cidr -> table id
        self.routes: dict[int, dict[str, str]] = {}
        self.rules: dict[str, int] = {}

    def table_for(self, rt_id: str) -> int:
        if rt_id not in self.table_ids:
            self.table_ids[rt_id] = TABLE_BASE + len(self.table_ids)
        return self.table_ids[rt_id]

    def subnet_cidr(self, subnet_id: str) -> str | None:
        if subnet_id not in self.subnet_cidrs:
            for s in self.ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"]:
                self.subnet_cidrs[s["SubnetId"]] = s["CidrBlock"]
        return self.subnet_cidrs.get(subnet_id)

    def eni_ip(self, eni_id: str) -> str | None:
        if eni_id not in self.eni_ips:
            try:
                for n in self.ec2.describe_network_interfaces(NetworkInterfaceIds=[eni_id])["NetworkInterfaces"]:
                    self.eni_ips[n["NetworkInterfaceId"]] = n["PrivateIpAddress"]
            except Exception as e:  # unknown ENI: a route to it blackholes, as in a VPC
                log(f"cannot resolve {eni_id}: {e}")
                return None
        return self.eni_ips.get(eni_id)

    def desired(self) -> tuple[dict[int, dict[str, str]], dict[str, int]]:
        vpcs = self.ec2.describe_vpcs(Filters=[{"Name": "tag:myha-lab", "Values": [t.CLUSTER]}])["Vpcs"]
        if not vpcs:
            return {}, {}
        rts = self.ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpcs[0]["VpcId"]]}])["RouteTables"]
        routes, rules = {}, {}
        for rt in rts:
            subnets = [a["SubnetId"] for a in rt.get("Associations", []) if a.get("SubnetId")]
            if not subnets:
                continue
            tid = self.table_for(rt["RouteTableId"])
            table = {}
            for r in rt.get("Routes", []):
                dest, eni = r.get("DestinationCidrBlock", ""), r.get("NetworkInterfaceId")
                if eni and dest.endswith("/32"):
                    hop = self.eni_ip(eni)
                    if hop:
                        table[dest] = hop
            routes[tid] = table
            for sid in subnets:
                cidr = self.subnet_cidr(sid)
                if cidr:
                    rules[cidr] = tid
        return routes, rules

    def apply(self, routes: dict[int, dict[str, str]], rules: dict[str, int]):
        for cidr, tid in rules.items():
            if self.rules.get(cidr) != tid:
                if cidr in self.rules:
                    ip("rule", "del", "from", cidr, "lookup", str(self.rules[cidr]))
                ip("rule", "add", "from", cidr, "lookup", str(tid), "priority", str(RULE_PRIORITY_BASE + tid))
                log(f"rule: traffic from {cidr} uses table {tid}")
        for cidr in set(self.rules) - set(rules):
            ip("rule", "del", "from", cidr, "lookup", str(self.rules[cidr]))
        self.rules = dict(rules)
        for tid, table in routes.items():
            old = self.routes.get(tid, {})
            for dest, hop in table.items():
                if old.get(dest) != hop:
                    # name the link: next hops are resolved in the main table, not this one
                    dev = next((h.router_if for h in t.HOSTS if h.ip == hop), None)
                    ip("route", "replace", dest, "via", hop, *(["dev", dev] if dev else []), "table", str(tid))
                    rt_id = next(k for k, v in self.table_ids.items() if v == tid)
                    log(f"route: {rt_id} (table {tid}) {dest} -> {hop} (was {old.get(dest)})")
            for dest in set(old) - set(table):
                ip("route", "del", dest, "table", str(tid))
                log(f"route: table {tid} {dest} removed")
            self.routes[tid] = dict(table)

    def run(self):
        log(f"data plane up: polling {t.ec2_endpoint()} every {int(POLL_S * 1000)} ms")
        failing = False
        while True:
            started = time.monotonic()
            try:
                self.apply(*self.desired())
                if failing:
                    log("EC2 API answers again")
                failing = False
            except Exception as e:
                if not failing:
                    log(f"EC2 API unavailable, keeping current routes: {e}")
                failing = True
            time.sleep(max(0.0, POLL_S - (time.monotonic() - started)))


if __name__ == "__main__":
    try:
        DataPlane().run()
    except KeyboardInterrupt:
        sys.exit(0)
