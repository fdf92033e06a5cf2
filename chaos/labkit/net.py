"""Network namespaces, veth links, the VIP on lo, and nftables partitions."""
from . import topology as t
from .shell import run, in_ns, LabError

PARTITION_TABLE_ISOLATE = "myha_isolate"


def existing_namespaces() -> set[str]:
    out = run(["ip", "netns", "list"]).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def lab_namespaces() -> list[str]:
    return sorted(n for n in existing_namespaces() if n.startswith(t.NS_PREFIX))


def sysctl(ns: str, key: str, value: str):
    in_ns(ns, ["sysctl", "-q", "-w", f"{key}={value}"])


def ensure_router():
    if t.ROUTER_NS in existing_namespaces():
        return
    run(["ip", "netns", "add", t.ROUTER_NS])
    in_ns(t.ROUTER_NS, ["ip", "link", "set", "lo", "up"])
    sysctl(t.ROUTER_NS, "net.ipv4.ip_forward", "1")
    # Routed /32 hosts: the reverse-path check would see asymmetric paths via the VIP.
    sysctl(t.ROUTER_NS, "net.ipv4.conf.all.rp_filter", "0")
    sysctl(t.ROUTER_NS, "net.ipv4.conf.default.rp_filter", "0")
    sysctl(t.ROUTER_NS, "net.ipv4.conf.all.send_redirects", "0")
    sysctl(t.ROUTER_NS, "net.ipv4.conf.default.send_redirects", "0")


def host_ready(h: t.Host) -> bool:
    if h.ns not in existing_namespaces():
        return False
    p = in_ns(h.ns, ["ip", "-4", "-o", "addr", "show", "dev", "eth0"], check=False)
    return h.ip in p.stdout


def ensure_host(h: t.Host):
    """Create the host's namespace and join it to the router (idempotent)."""
    if host_ready(h):
        return
    if h.ns in existing_namespaces():
        # half-built by an interrupted `up`: start this host over
        run(["ip", "netns", "del", h.ns])
    in_ns(t.ROUTER_NS, ["ip", "link", "del", h.router_if], check=False)
    run(["ip", "netns", "add", h.ns])
    in_ns(t.ROUTER_NS, ["ip", "link", "add", h.router_if, "type", "veth", "peer", "name", "eth0", "netns", h.ns])
    # router side: the gateway address on every host link, and a /32 route to the host
    in_ns(t.ROUTER_NS, ["ip", "addr", "add", f"{t.GATEWAY}/32", "dev", h.router_if])
    in_ns(t.ROUTER_NS, ["ip", "link", "set", h.router_if, "up"])
    in_ns(t.ROUTER_NS, ["ip", "route", "replace", f"{h.ip}/32", "dev", h.router_if])
    # host side
    in_ns(h.ns, ["ip", "link", "set", "lo", "up"])
    in_ns(h.ns, ["ip", "addr", "add", f"{h.ip}/32", "dev", "eth0"])
    in_ns(h.ns, ["ip", "link", "set", "eth0", "up"])
    in_ns(h.ns, ["ip", "route", "add", f"{t.GATEWAY}/32", "dev", "eth0"])
    in_ns(h.ns, ["ip", "route", "add", "default", "via", t.GATEWAY, "dev", "eth0"])
    if h.role in ("db", "spare"):
        # Every DB node holds the VIP on lo, as on EC2; only the route decides who gets it.
        in_ns(h.ns, ["ip", "addr", "add", f"{t.VIP}/32", "dev", "lo"])
        # Never answer ARP for (or announce) the VIP on eth0.
        sysctl(h.ns, "net.ipv4.conf.all.arp_ignore", "1")
        sysctl(h.ns, "net.ipv4.conf.all.arp_announce", "2")


def delete_all_namespaces():
    for ns in lab_namespaces():
        run(["ip", "netns", "del", ns], check=False)


def namespace_pids(ns: str) -> list[int]:
    p = run(["ip", "netns", "pids", ns], check=False)
    return [int(x) for x in p.stdout.split()]


# ---- partitions ---------------------------------------------------------------------------

def _apply_table(ns: str, table: str, in_rule: str, out_rule: str):
    in_ns(ns, ["nft", "delete", "table", "inet", table], check=False)
    ruleset = (
        f"table inet {table} {{\n"
        f"  chain input {{ type filter hook input priority -10; policy accept; {in_rule} drop; }}\n"
        f"  chain output {{ type filter hook output priority -10; policy accept; {out_rule} drop; }}\n"
        f"}}\n"
    )
    in_ns(ns, ["nft", "-f", "-"], input=ruleset)


def isolate(h: t.Host):
    # Drop everything on the host's only link, both directions; routes stay as they are.
    _apply_table(h.ns, PARTITION_TABLE_ISOLATE, 'iifname "eth0"', 'oifname "eth0"')


def heal(h: t.Host):
    in_ns(h.ns, ["nft", "delete", "table", "inet", PARTITION_TABLE_ISOLATE], check=False)


def _cut_table(peer: t.Host) -> str:
    return f"myha_cut_{peer.name}"


def cut(a: t.Host, b: t.Host):
    if a == b:
        raise LabError("cut needs two different hosts")
    # Rules on both ends: traffic to b's address and traffic b sends to the VIP on a are both caught.
    _apply_table(a.ns, _cut_table(b), f"ip saddr {b.ip}", f"ip daddr {b.ip}")
    _apply_table(b.ns, _cut_table(a), f"ip saddr {a.ip}", f"ip daddr {a.ip}")


def uncut(a: t.Host, b: t.Host):
    in_ns(a.ns, ["nft", "delete", "table", "inet", _cut_table(b)], check=False)
    in_ns(b.ns, ["nft", "delete", "table", "inet", _cut_table(a)], check=False)


def partitions(h: t.Host) -> list[str]:
    """Active partitions on a host: 'isolated' and/or 'cut:<peer>'."""
    p = in_ns(h.ns, ["nft", "list", "tables"], check=False)
    out = []
    for line in p.stdout.splitlines():
        name = line.split()[-1] if line.strip() else ""
        if name == PARTITION_TABLE_ISOLATE:
            out.append("isolated")
        elif name.startswith("myha_cut_"):
            out.append("cut:" + name.removeprefix("myha_cut_"))
    return out


def heal_all():
    for h in t.HOSTS:
        if h.ns in existing_namespaces():
            for tbl in in_ns(h.ns, ["nft", "list", "tables"], check=False).stdout.splitlines():
                name = tbl.split()[-1] if tbl.strip() else ""
                if name.startswith("myha_"):
                    in_ns(h.ns, ["nft", "delete", "table", "inet", name], check=False)
