"""The OpenStack API gateway: Keystone v3, Nova v2.1, Glance v2 and Neutron v2.0 REST,
translated to Polyvisor's gRPC services (never to their databases), so the `openstack` CLI,
openstacksdk and Tempest work against a Polyvisor cloud."""
