-- Networks, subnets, IPAM, ports, security groups, and the event outbox.

CREATE TABLE network.networks (
    id               uuid        PRIMARY KEY,
    name             text        NOT NULL DEFAULT '',
    project_id       text        NOT NULL,
    network_type     text        NOT NULL CHECK (network_type IN ('flat', 'vlan')),
    physical_network text        NOT NULL CHECK (physical_network <> ''),
    segmentation_id  integer     NOT NULL DEFAULT 0,
    shared           boolean     NOT NULL DEFAULT false,
    admin_state_up   boolean     NOT NULL DEFAULT true,
    mtu              integer     NOT NULL CHECK (mtu BETWEEN 68 AND 9216),
    request_id       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((network_type = 'flat' AND segmentation_id = 0)
        OR (network_type = 'vlan' AND segmentation_id BETWEEN 1 AND 4094))
);

-- One segment, one network: a VLAN id once per physical network, one flat network per
-- physical network.
CREATE UNIQUE INDEX networks_vlan ON network.networks (physical_network, segmentation_id)
    WHERE network_type = 'vlan';
CREATE UNIQUE INDEX networks_flat ON network.networks (physical_network)
    WHERE network_type = 'flat';
CREATE UNIQUE INDEX networks_request_id ON network.networks (project_id, request_id)
    WHERE request_id IS NOT NULL;
CREATE INDEX networks_project ON network.networks (project_id);

CREATE TABLE network.subnets (
    id               uuid        PRIMARY KEY,
    name             text        NOT NULL DEFAULT '',
    project_id       text        NOT NULL,
    network_id       uuid        NOT NULL REFERENCES network.networks (id) ON DELETE CASCADE,
    ip_version       integer     NOT NULL CHECK (ip_version IN (4, 6)),
    cidr             cidr        NOT NULL,
    gateway_ip       inet,
    enable_dhcp      boolean     NOT NULL DEFAULT true,
    dns_nameservers  text[]      NOT NULL DEFAULT '{}',
    -- [{"destination": cidr, "nexthop": ip}]
    host_routes      jsonb       NOT NULL DEFAULT '[]'::jsonb,
    -- [{"start": ip, "end": ip}]
    allocation_pools jsonb       NOT NULL DEFAULT '[]'::jsonb,
    -- materialised: every pool address has a row in ip_addresses (free ones with port_id
    -- NULL), so an allocation is one UPDATE ... FOR UPDATE SKIP LOCKED. sparse (pools too
    -- large to list, e.g. an IPv6 /64): rows exist for addresses handed out only.
    ipam_mode        text        NOT NULL CHECK (ipam_mode IN ('materialised', 'sparse')),
    request_id       text,
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX subnets_network ON network.subnets (network_id, created_at);
CREATE UNIQUE INDEX subnets_request_id ON network.subnets (project_id, request_id)
    WHERE request_id IS NOT NULL;

CREATE TABLE network.security_groups (
    id          uuid        PRIMARY KEY,
    name        text        NOT NULL DEFAULT '',
    description text        NOT NULL DEFAULT '',
    project_id  text        NOT NULL,
    is_default  boolean     NOT NULL DEFAULT false,
    -- Bumped (under the row lock) on every rule or member change; events carry it.
    revision    bigint      NOT NULL DEFAULT 1,
    request_id  text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX security_groups_default ON network.security_groups (project_id)
    WHERE is_default;
CREATE UNIQUE INDEX security_groups_request_id ON network.security_groups (project_id, request_id)
    WHERE request_id IS NOT NULL;

CREATE TABLE network.security_group_rules (
    id                uuid        PRIMARY KEY,
    security_group_id uuid        NOT NULL
                      REFERENCES network.security_groups (id) ON DELETE CASCADE,
    project_id        text        NOT NULL,
    direction         text        NOT NULL CHECK (direction IN ('ingress', 'egress')),
    ethertype         text        NOT NULL CHECK (ethertype IN ('IPv4', 'IPv6')),
    protocol          text        NOT NULL DEFAULT '',
    port_range_min    integer,
    port_range_max    integer,
    remote_ip_prefix  cidr,
    remote_group_id   uuid        REFERENCES network.security_groups (id),
    description       text        NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (remote_ip_prefix IS NULL OR remote_group_id IS NULL)
);

CREATE UNIQUE INDEX security_group_rules_unique ON network.security_group_rules (
    security_group_id, direction, ethertype, protocol,
    coalesce(port_range_min, -1), coalesce(port_range_max, -1),
    coalesce(remote_ip_prefix::text, ''), coalesce(remote_group_id::text, '')
);
CREATE INDEX security_group_rules_remote ON network.security_group_rules (remote_group_id)
    WHERE remote_group_id IS NOT NULL;

CREATE TABLE network.ports (
    id                     uuid        PRIMARY KEY,
    name                   text        NOT NULL DEFAULT '',
    project_id             text        NOT NULL,
    network_id             uuid        NOT NULL REFERENCES network.networks (id),
    mac_address            macaddr     NOT NULL UNIQUE,
    device_owner           text        NOT NULL DEFAULT '',
    device_id              text        NOT NULL DEFAULT '',
    binding_host           text        NOT NULL DEFAULT '',
    vif_type               text        NOT NULL DEFAULT 'unbound'
                           CHECK (vif_type IN ('unbound', 'bridge', 'vmware_portgroup')),
    binding_state          text        NOT NULL DEFAULT 'unbound'
                           CHECK (binding_state IN ('unbound', 'pending', 'active', 'failed')),
    binding_message        text        NOT NULL DEFAULT '',
    port_security_enforced boolean     NOT NULL DEFAULT false,
    port_security_enabled  boolean     NOT NULL DEFAULT true,
    -- [{"ip_address": ip-or-cidr, "mac_address": mac}]
    allowed_address_pairs  jsonb       NOT NULL DEFAULT '[]'::jsonb,
    admin_state_up         boolean     NOT NULL DEFAULT true,
    revision               bigint      NOT NULL DEFAULT 1,
    request_id             text,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX ports_network ON network.ports (network_id);
CREATE INDEX ports_project ON network.ports (project_id);
CREATE INDEX ports_device ON network.ports (device_id) WHERE device_id <> '';
CREATE INDEX ports_host ON network.ports (binding_host) WHERE binding_host <> '';
CREATE UNIQUE INDEX ports_request_id ON network.ports (project_id, request_id)
    WHERE request_id IS NOT NULL;

CREATE TABLE network.port_security_groups (
    port_id           uuid NOT NULL REFERENCES network.ports (id) ON DELETE CASCADE,
    security_group_id uuid NOT NULL REFERENCES network.security_groups (id),
    PRIMARY KEY (port_id, security_group_id)
);

CREATE INDEX port_security_groups_group ON network.port_security_groups (security_group_id);

-- IPAM. One row per address a subnet hands out or has handed out; port_id NULL is free.
-- in_pool: the address is in an allocation pool (only those are picked automatically; a
-- fixed IP asked for outside the pools gets a row with in_pool false).
CREATE TABLE network.ip_addresses (
    subnet_id  uuid    NOT NULL REFERENCES network.subnets (id) ON DELETE CASCADE,
    ip_address inet    NOT NULL,
    in_pool    boolean NOT NULL,
    port_id    uuid    REFERENCES network.ports (id) ON DELETE SET NULL,
    PRIMARY KEY (subnet_id, ip_address)
);

CREATE INDEX ip_addresses_free ON network.ip_addresses (subnet_id, ip_address)
    WHERE port_id IS NULL AND in_pool;
CREATE INDEX ip_addresses_port ON network.ip_addresses (port_id) WHERE port_id IS NOT NULL;

-- Events written in the same transaction as the change they describe, published to NATS
-- by a background loop (at least once; the event id de-duplicates in JetStream).
CREATE TABLE network.outbox (
    seq        bigserial   PRIMARY KEY,
    event_id   uuid        NOT NULL UNIQUE,
    subject    text        NOT NULL,
    -- The event as its serialised protobuf (polyvisor.network.v1 PortEvent or
    -- SecurityGroupEvent).
    payload    bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
