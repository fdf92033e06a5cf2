"""labkit: the pieces of `chaos/lab`, one module per part of the lab.

topology  names, addresses and AZs of every lab host (the single source of truth)
shell     running commands, in the root namespace or inside a lab host
net       namespaces, veth links, the VIP, nftables partitions
mariadb   the DB nodes: config, start/stop, replication set-up, health
zookeeper the three-server ZooKeeper ensemble
ec2       the EC2-compatible API server (moto) and the VPC it is seeded with
dataplane the VPC data plane: kernel routes follow the EC2 route tables
state     the lab's state directory and state file
cli       the verbs
"""
