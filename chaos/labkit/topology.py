"""Every name and address of the lab. Other modules derive from this; nothing else hard-codes an IP.

Addressing: the router namespace plays the VPC. Every host is joined to it by its own veth pair,
with a /32 address and 10.88.0.1 as gateway ("routed veth"): all traffic between hosts crosses
the router's forwarding path, so there is no shared L2 segment and no ICMP redirect that could
let a client bypass the router's route for the VIP.
"""
from dataclasses import dataclass

NS_PREFIX = "myha-"
ROUTER_NS = NS_PREFIX + "rtr"
GATEWAY = "10.88.0.1"
VPC_CIDR = "10.88.0.0/16"
# The VIP is outside the VPC CIDR, as AWS requires for a route-table floating IP.
VIP = "10.90.0.10"
REGION = "us-east-1"
CLUSTER = "lab"
MYSQL_PORT = 3306
ZK_CLIENT_PORT = 2181
EC2_PORT = 5000

# EC2 subnets: name -> (CIDR, availability zone). Each gets its own route table.
SUBNETS = {
    "a": ("10.88.1.0/24", "us-east-1a"),
    "b": ("10.88.2.0/24", "us-east-1b"),
}


@dataclass(frozen=True)
class Host:
    name: str
    ip: str
    role: str  # db | spare | manager | zookeeper | aws | client
    subnet: str | None  # key of SUBNETS, None for hosts outside the VPC subnets

    @property
    def ns(self) -> str:
        return NS_PREFIX + self.name

    @property
    def az(self) -> str | None:
        return SUBNETS[self.subnet][1] if self.subnet else None

    @property
    def router_if(self) -> str:
        # interface names are limited to 15 characters
        return "v-" + self.name


HOSTS = [
    Host("db1", "10.88.1.11", "db", "a"),
    Host("db2", "10.88.2.12", "db", "b"),
    Host("db3", "10.88.1.13", "db", "a"),
    # A blank DB host (an auto-scaling group's replacement instance): network, VIP on lo and an
    # ENI, no server until `myha bootstrap` restores one; every reset makes it blank again.
    Host("db4", "10.88.2.14", "spare", "b"),
    Host("mgr1", "10.88.1.21", "manager", "a"),
    Host("mgr2", "10.88.2.22", "manager", "b"),
    Host("mgr3", "10.88.1.23", "manager", "a"),
    Host("zk1", "10.88.1.31", "zookeeper", "a"),
    Host("zk2", "10.88.2.32", "zookeeper", "b"),
    Host("zk3", "10.88.1.33", "zookeeper", "a"),
    Host("client", "10.88.2.50", "client", "b"),
    # The EC2 API endpoint is not inside a VPC subnet, as on AWS.
    Host("aws", "10.88.0.40", "aws", None),
]
BY_NAME = {h.name: h for h in HOSTS}
DB_HOSTS = [h for h in HOSTS if h.role == "db"]
SPARE_HOSTS = [h for h in HOSTS if h.role == "spare"]
ZK_HOSTS = [h for h in HOSTS if h.role == "zookeeper"]
MANAGER_HOSTS = [h for h in HOSTS if h.role == "manager"]
CLIENT = BY_NAME["client"]
AWS = BY_NAME["aws"]
INITIAL_MASTER = "db1"

# Lab-only secrets: printed by `status --json` so tests and drills can log in.
USERS = {
    "admin": ("myha", "myha-admin-secret"),
    "replication": ("repl", "repl-secret"),
    "app": ("app", "app-secret"),
}
AWS_ACCESS_KEY_ID = "testing"
# an S3 bucket on the same API server, for backups
BACKUP_BUCKET = "myha-lab-backups"
AWS_SECRET_ACCESS_KEY = "testing"
# the managers' HTTP API tokens (config/lab.toml [api]): admin (named "token"), and one
# each of the read and operate roles (`[[api.token]]`)
API_TOKEN = "lab-api-token-0123456789"
API_TOKENS = {"read": "lab-api-read-0123456789", "operate": "lab-api-operate-0123456789"}


def server_id(host: Host) -> int:
    return int(host.name.removeprefix("db"))


def zk_id(host: Host) -> int:
    return int(host.name.removeprefix("zk"))


def zk_connect() -> str:
    return ",".join(f"{h.ip}:{ZK_CLIENT_PORT}" for h in ZK_HOSTS)


def ec2_endpoint() -> str:
    return f"http://{AWS.ip}:{EC2_PORT}"


def host(name: str) -> Host:
    try:
        return BY_NAME[name]
    except KeyError:
        raise SystemExit(f"lab: unknown host {name!r} (hosts: {', '.join(BY_NAME)})")


def db_host(name: str) -> Host:
    h = host(name)
    if h.role not in ("db", "spare"):
        raise SystemExit(f"lab: {name!r} is not a DB node (DB nodes: {', '.join(d.name for d in DB_HOSTS + SPARE_HOSTS)})")
    return h
