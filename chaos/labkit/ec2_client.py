"""One-shot EC2 calls for the lab (run with the venv's python): `python -m labkit.ec2_client VERB`."""
import json
import sys

from . import topology as t
from .aws_session import ec2_client, s3_client


def tag(name: str) -> list:
    return [{"Key": "Name", "Value": name}, {"Key": "myha-lab", "Value": t.CLUSTER}]


def seed() -> dict:
    """A VPC like production: two subnets in two AZs, one ENI per DB node at the node's address
    with source/dest check off, and one route table per subnet with VIP/32 -> ENI of the master."""
    ec2 = ec2_client(timeout=10)
    vpc_id = ec2.create_vpc(CidrBlock=t.VPC_CIDR, TagSpecifications=[{"ResourceType": "vpc", "Tags": tag("myha-lab")}])["Vpc"]["VpcId"]
    subnets, route_tables = {}, {}
    for key, (cidr, az) in t.SUBNETS.items():
        sn = ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=az,
                               TagSpecifications=[{"ResourceType": "subnet", "Tags": tag(f"lab-{key}")}])
        subnets[key] = sn["Subnet"]["SubnetId"]
        rt = ec2.create_route_table(VpcId=vpc_id, TagSpecifications=[{"ResourceType": "route-table", "Tags": tag(f"lab-{key}")}])
        route_tables[key] = rt["RouteTable"]["RouteTableId"]
        ec2.associate_route_table(RouteTableId=route_tables[key], SubnetId=subnets[key])
    enis = {}
    for h in t.DB_HOSTS + t.SPARE_HOSTS:
        eni = ec2.create_network_interface(
            SubnetId=subnets[h.subnet], PrivateIpAddress=h.ip, Description=f"myha lab {h.name}",
            TagSpecifications=[{"ResourceType": "network-interface", "Tags": tag(h.name)}])
        eni_id = eni["NetworkInterface"]["NetworkInterfaceId"]
        # A host that forwards traffic for an address not its own (the VIP) needs this off.
        ec2.modify_network_interface_attribute(NetworkInterfaceId=eni_id, SourceDestCheck={"Value": False})
        enis[h.name] = eni_id
    s3_client().create_bucket(Bucket=t.BACKUP_BUCKET)
    master_eni = enis[t.INITIAL_MASTER]
    for rt in route_tables.values():
        ec2.create_route(RouteTableId=rt, DestinationCidrBlock=f"{t.VIP}/32", NetworkInterfaceId=master_eni)
    return {"vpc_id": vpc_id, "subnet_ids": subnets, "route_table_ids": route_tables, "eni_ids": enis}


def lab_route_tables(ec2) -> list[dict]:
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:myha-lab", "Values": [t.CLUSTER]}])["Vpcs"]
    if not vpcs:
        return []
    rts = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpcs[0]["VpcId"]]}])["RouteTables"]
    return [rt for rt in rts if any(a.get("SubnetId") for a in rt.get("Associations", []))]


def vip_targets() -> dict:
    ec2 = ec2_client()
    out = {}
    for rt in lab_route_tables(ec2):
        eni = next((r.get("NetworkInterfaceId") for r in rt["Routes"] if r.get("DestinationCidrBlock") == f"{t.VIP}/32"), None)
        out[rt["RouteTableId"]] = eni
    return out


def set_vip_route(eni_id: str):
    ec2 = ec2_client()
    for rt in lab_route_tables(ec2):
        ec2.replace_route(RouteTableId=rt["RouteTableId"], DestinationCidrBlock=f"{t.VIP}/32", NetworkInterfaceId=eni_id)


def main(argv: list[str]) -> int:
    verb = argv[0] if argv else ""
    if verb == "ping":
        ec2_client(timeout=1).describe_regions()
        print("ok")
    elif verb == "has-vpc":
        try:
            vpcs = ec2_client().describe_vpcs(VpcIds=[argv[1]])["Vpcs"]
        except Exception:
            vpcs = []
        print("yes" if vpcs else "no")
    elif verb == "seed":
        print(json.dumps(seed()))
    elif verb == "vip-targets":
        print(json.dumps(vip_targets()))
    elif verb == "set-vip-route":
        set_vip_route(argv[1])
    else:
        print(f"unknown verb {verb!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
