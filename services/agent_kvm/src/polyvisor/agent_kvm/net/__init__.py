"""The KVM host's network data plane: what a bound port needs on this host.

- ``model``: the port binding spec and security group state as plain dataclasses;
- ``convert``: those from polyvisor.network.v1 messages (the only module that sees protobuf);
- ``names``: device, namespace and chain names derived from ids (kernel limits respected);
- ``shell``: ``ip``/``nft``/``dnsmasq`` as async subprocesses, failures mapped to NetError;
- ``bridges``: a Linux bridge per network, on the mapped interface (or its VLAN sub-interface);
- ``dhcp``: dnsmasq with static host entries, one per network in its own namespace;
- ``firewall``: security groups and anti-spoofing rendered to nftables and applied;
- ``metadata``: the metadata service at 169.254.169.254, served inside each DHCP namespace;
- ``plane``: ``NetworkPlane``, which plugs and unplugs ports and applies group changes.
"""
