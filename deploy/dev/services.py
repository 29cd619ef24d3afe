"""The services of the dev stack, in start order, each with its environment.

Every service is started the way a user starts it, `python -m polyvisor.<module>`, and is
configured only through its environment (docs/conventions.md): the table below is the
single place where the dev stack decides those variables.

Ports: api 50051, imagesvc 50052, scheduler 50053, networksvc 50054, metrics 9151-9154 (the
conventions' defaults), the console proxy 6080 (its health 50055, metrics 9155), the dashboard 8080 (50056, 9156),
the OpenStack API gateway 8774 (50057, 9157), volumesvc 50058 (metrics 9158);
`POLYVISOR_DEV_PORTS=ephemeral` picks free ports instead (a second stack beside a running
one). Agents get ephemeral ports.

One concern: every process of the stack and its environment, in one plan, so that each
variable the stack sets is decided in one place.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from deploy.dev import lxc
from deploy.dev.kvm import nft_table, virt_type
from deploy.dev.layout import Layout
from deploy.dev.ports import BIND_HOST, http_port, service_ports, taken_ports

if TYPE_CHECKING:
    from polyvisor.common.natsauth import NatsUser

CONTROL_PLANE = ("scheduler", "imagesvc", "networksvc", "volumesvc", "api")
# The physical network every dev agent maps (the demo network is on it).
DEMO_PHYSICAL_NETWORK = "physnet1"
#: The VLAN ids of the demo physical network that project networks take (a member creates a
#: network without choosing one, as in Neutron with tenant_network_types = vlan).
DEMO_VLAN_RANGE = "100:199"
#: What browsers reach: started after the api (they call it), before the agents.
WEB = ("console", "dashboard", "osapi")


@dataclass(frozen=True, slots=True)
class Infra:
    """What the services connect to."""

    database_url: str
    nats_url: str
    vcenter_url: str
    vcenter_user: str
    vcenter_password: str
    clusters: tuple[str, ...]
    libvirt_uri: str
    #: The embedded NATS, whose users `./dev` declares (each process its own NATS identity).
    nats_managed: bool = False
    #: The one-node Ceph (POLYVISOR_DEV_CEPH=1): its ceph.conf, admin keyring and RBD pool;
    #: imagesvc then keeps its images there, the volume service has an `rbd` backend there
    #: (its monitor's v1 address for the KVM hosts) and the KVM agent attaches its volumes.
    ceph_conf: str = ""
    ceph_keyring: str = ""
    ceph_pool: str = ""
    ceph_monitors: str = ""
    #: The bare-metal pool (POLYVISOR_DEV_BAREMETAL): its nodes file and credentials directory.
    baremetal: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Credentials:
    """The dev stack's own secrets, made once and kept in .polyvisor/ (mode 0600)."""

    token_private_key: Path  # the api signs tokens with it
    token_public_key: Path  # every service verifies with it
    admin_user: str
    admin_password: str
    admin_project: str
    agent_key_secret: str  # the api derives each agent's key from it; agents never see it
    nats_secret: str = ""  # each control-plane service's NATS password is derived from it

    def nats_password(self, identity: str) -> str:
        import hashlib
        import hmac

        return hmac.new(self.nats_secret.encode(), identity.encode(), hashlib.sha256).hexdigest()

    def service_key(self, name: str) -> str:
        """A keyed control-plane service's key (the console proxy's)."""
        from polyvisor.common.derived_keys import derive_service_key

        return derive_service_key(self.agent_key_secret, name)

    def agent_key(self, host: str) -> str:
        """The agent of `host`'s own key (it names the host; no other host can use it)."""
        from polyvisor.common.derived_keys import derive_agent_key

        return derive_agent_key(self.agent_key_secret, host)

    @classmethod
    def ensure(cls, layout: Layout) -> Credentials:
        from polyvisor.common.auth import ensure_keypair

        keys = layout.root / "keys"
        private, public = keys / "token.key", keys / "token.pub"
        ensure_keypair(private, public)
        path = layout.root / "credentials.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = {}
        if not isinstance(data, dict):
            data = {}
        # Add what is missing, never replace what exists (the admin was bootstrapped with it).
        defaults = {
            "admin_user": "admin",
            # never with a leading dash, which a command line would read as an option
            "admin_password": "pv" + secrets.token_urlsafe(12),
            "admin_project": "admin",
            "agent_key_secret": secrets.token_urlsafe(32),
            "nats_secret": secrets.token_urlsafe(32),
        }
        if not set(defaults) <= set(data):
            data = {**defaults, **data}
            data.pop("agent_api_key", None)  # the shared agent key is retired
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=2) + "\n")
            tmp.chmod(0o600)
            tmp.replace(path)
        return cls(
            token_private_key=private,
            token_public_key=public,
            admin_user=str(data["admin_user"]),
            admin_password=str(data["admin_password"]),
            admin_project=str(data["admin_project"]),
            agent_key_secret=str(data["agent_key_secret"]),
            nats_secret=str(data["nats_secret"]),
        )


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: str  # process name: log file, record, status row
    module: str  # python -m polyvisor.<module>
    grpc_port: int
    metrics_port: int
    env: dict[str, str] = field(default_factory=dict)
    info: dict[str, str] = field(default_factory=dict)  # shown in endpoints.json

    @property
    def address(self) -> str:
        return f"{BIND_HOST}:{self.grpc_port}"

    @property
    def dependencies(self) -> dict[str, str]:
        """The addresses it is given of the other parts (NATS, PostgreSQL, api, vCenter...):
        recorded at start, so `./dev up` restarts it when one of them has moved."""
        return {
            k: v for k, v in sorted(self.env.items()) if k.endswith(("_URL", "_ADDRESS", "_URI"))
        }

    @property
    def argv(self) -> list[str]:
        import sys

        return [sys.executable, "-m", f"polyvisor.{self.module}"]


def implemented(module: str) -> bool:
    """True when `python -m polyvisor.<module>` can run (its __main__ exists)."""
    try:
        return importlib.util.find_spec(f"polyvisor.{module}.__main__") is not None
    except ModuleNotFoundError:
        return False


def volume_backends(infra: Infra, layout: Layout) -> dict[str, dict[str, str]]:
    """The volume service's backends: files beside the KVM host; with vCenter clusters, vmdk
    disks on its datastores (the VMware agents attach them: POLYVISOR_VMDK_VOLUMES); with the
    one-node Ceph, RBD images in its pool (the KVM agent attaches them: POLYVISOR_RBD_VOLUMES,
    the libvirt secret `secret_uuid` defined from the admin keyring)."""
    backends = {"file": {"kind": "file", "directory": str(layout.data("volumesvc") / "volumes")}}
    if infra.clusters:
        backends["vmdk"] = {
            "kind": "vmdk",
            "url": infra.vcenter_url,
            "user": infra.vcenter_user,
            "password": infra.vcenter_password,
            "hypervisor_types": "vmware",
        }
    if infra.ceph_conf:
        secret = str(uuid.uuid5(uuid.NAMESPACE_URL, f"polyvisor-ceph:{infra.ceph_conf}"))
        backends["rbd"] = {"kind": "rbd", "conf": infra.ceph_conf, "keyring": infra.ceph_keyring,
                           "pool": infra.ceph_pool, "monitors": infra.ceph_monitors,
                           "secret_uuid": secret}  # fmt: skip
    return backends


def plan(
    layout: Layout,
    infra: Infra,
    creds: Credentials,
    recorded: dict[str, dict[str, int]],
) -> list[ServiceSpec]:
    """All service processes in start order. `recorded`: ports of those already running."""
    specs: dict[str, ServiceSpec] = {}
    taken = taken_ports(recorded)
    ports = {name: service_ports(name, recorded, taken) for name in (*CONTROL_PLANE, *WEB)}
    lxc_host = lxc.wanted(infra.libvirt_uri)
    address = {name: f"{BIND_HOST}:{ports[name][0]}" for name in CONTROL_PLANE}
    http = {name: http_port(name, recorded, taken) for name in WEB}
    console_url = f"ws://{BIND_HOST}:{http['console']}"

    def nats(name: str) -> dict[str, str]:
        if not infra.nats_managed:
            return {"POLYVISOR_NATS_URL": infra.nats_url}
        env = {"POLYVISOR_NATS_URL": without_credentials(infra.nats_url)}
        if name in CONTROL_PLANE:  # agents: user agent-<host>, their key as password
            env["POLYVISOR_NATS_USER"] = name
            env["POLYVISOR_NATS_PASSWORD"] = creds.nats_password(name)
        return env

    def common(name: str) -> dict[str, str]:
        grpc_port, metrics_port = ports[name]
        return {
            **nats(name),
            "POLYVISOR_GRPC_HOST": BIND_HOST,
            "POLYVISOR_GRPC_PORT": str(grpc_port),
            "POLYVISOR_METRICS_HOST": BIND_HOST,
            "POLYVISOR_METRICS_PORT": str(metrics_port),
            "POLYVISOR_SERVER_ID": f"dev-{name}",
            "POLYVISOR_LOG_LEVEL": os.environ.get("POLYVISOR_LOG_LEVEL", "INFO"),
            "POLYVISOR_TOKEN_PUBLIC_KEY": str(creds.token_public_key),
        }

    specs["scheduler"] = ServiceSpec(
        "scheduler", "scheduler", *ports["scheduler"],
        env={**common("scheduler"), "POLYVISOR_DATABASE_URL": infra.database_url},
    )  # fmt: skip
    specs["imagesvc"] = ServiceSpec(
        "imagesvc", "imagesvc", *ports["imagesvc"],
        env={
            **common("imagesvc"),
            "POLYVISOR_DATABASE_URL": infra.database_url,
            "POLYVISOR_STORE_DIR": str(layout.data("imagesvc") / "store"),
            **(
                {
                    "POLYVISOR_STORE_BACKEND": "rbd",
                    "POLYVISOR_STORE_RBD_CONF": infra.ceph_conf,
                    "POLYVISOR_STORE_RBD_KEYRING": infra.ceph_keyring,
                    "POLYVISOR_STORE_RBD_POOL": infra.ceph_pool,
                }
                if infra.ceph_conf
                else {}
            ),
        },
    )  # fmt: skip
    specs["networksvc"] = ServiceSpec(
        "networksvc", "networksvc", *ports["networksvc"],
        env={
            **common("networksvc"),
            "POLYVISOR_DATABASE_URL": infra.database_url,
            "POLYVISOR_PHYSICAL_NETWORKS": lxc.physical_networks(
                f"{DEMO_PHYSICAL_NETWORK}:{DEMO_VLAN_RANGE}", lxc_host
            ),
        },
    )  # fmt: skip
    specs["volumesvc"] = ServiceSpec(
        "volumesvc", "volumesvc", *ports["volumesvc"],
        env={
            **common("volumesvc"),
            "POLYVISOR_DATABASE_URL": infra.database_url,
            # one machine: the volume files live where the KVM agent (and QEMU) reach them;
            # vmdk volumes on the vCenter's datastores, which every cluster mounts
            "POLYVISOR_VOLUME_BACKENDS": json.dumps(volume_backends(infra, layout)),
        },
    )  # fmt: skip
    specs["api"] = ServiceSpec(
        "api", "api", *ports["api"],
        env={
            **common("api"),
            "POLYVISOR_DATABASE_URL": infra.database_url,
            "POLYVISOR_SCHEDULER_ADDRESS": address["scheduler"],
            "POLYVISOR_IMAGESVC_ADDRESS": address["imagesvc"],
            "POLYVISOR_NETWORK_ADDRESS": address["networksvc"],
            "POLYVISOR_VOLUME_ADDRESS": address["volumesvc"],
            "POLYVISOR_TOKEN_PRIVATE_KEY": str(creds.token_private_key),
            "POLYVISOR_BOOTSTRAP_ADMIN_USER": creds.admin_user,
            "POLYVISOR_BOOTSTRAP_ADMIN_PASSWORD": creds.admin_password,
            "POLYVISOR_BOOTSTRAP_ADMIN_PROJECT": creds.admin_project,
            "POLYVISOR_AGENT_KEY_SECRET": creds.agent_key_secret,
            "POLYVISOR_CONSOLE_PROXY_URL": console_url,
        },
    )  # fmt: skip

    def web(name: str) -> dict[str, str]:
        """What a web service gets: no NATS, no database, no signing key."""
        grpc_port, metrics_port = ports[name]
        return {
            "POLYVISOR_GRPC_HOST": BIND_HOST,
            "POLYVISOR_GRPC_PORT": str(grpc_port),
            "POLYVISOR_METRICS_HOST": BIND_HOST,
            "POLYVISOR_METRICS_PORT": str(metrics_port),
            "POLYVISOR_SERVER_ID": f"dev-{name}",
            "POLYVISOR_LOG_LEVEL": os.environ.get("POLYVISOR_LOG_LEVEL", "INFO"),
            "POLYVISOR_HTTP_HOST": BIND_HOST,
            "POLYVISOR_HTTP_PORT": str(http[name]),
            "POLYVISOR_API_ADDRESS": address["api"],
        }

    from polyvisor.common.auth import CONSOLE_IDENTITY

    specs["console"] = ServiceSpec(
        "console", "console", *ports["console"],
        env={**web("console"), "POLYVISOR_CONSOLE_API_KEY": creds.service_key(CONSOLE_IDENTITY)},
        info={"url": console_url, "http_port": str(http["console"])},
    )  # fmt: skip
    dashboard_url = f"http://{BIND_HOST}:{http['dashboard']}"
    specs["dashboard"] = ServiceSpec(
        "dashboard", "dashboard", *ports["dashboard"],
        env={
            **web("dashboard"),
            "POLYVISOR_IMAGESVC_ADDRESS": address["imagesvc"],
            "POLYVISOR_NETWORKSVC_ADDRESS": address["networksvc"],
        },
        info={"url": dashboard_url, "http_port": str(http["dashboard"])},
    )  # fmt: skip
    osapi_url = f"http://{BIND_HOST}:{http['osapi']}"
    specs["osapi"] = ServiceSpec(
        "osapi", "osapi", *ports["osapi"],
        env={
            **web("osapi"),
            "POLYVISOR_IMAGESVC_ADDRESS": address["imagesvc"],
            "POLYVISOR_NETWORKSVC_ADDRESS": address["networksvc"],
            "POLYVISOR_VOLUMESVC_ADDRESS": address["volumesvc"],
            "POLYVISOR_TENANT_PHYSICAL_NETWORK": DEMO_PHYSICAL_NETWORK,
        },
        info={"url": osapi_url, "auth_url": f"{osapi_url}/identity/v3", "http_port": str(http["osapi"])},
    )  # fmt: skip

    # Agents hold no database credentials (DESIGN §2): they get NATS and gRPC addresses.
    # Each agent gets its own key, naming its host id (set here so that the key can name it).
    def agent_env(name: str, host_id: str) -> dict[str, str]:
        return {
            **common(name),
            "POLYVISOR_API_ADDRESS": address["api"],
            "POLYVISOR_IMAGESVC_ADDRESS": address["imagesvc"],
            "POLYVISOR_NETWORK_ADDRESS": address["networksvc"],
            "POLYVISOR_HOST_ID": host_id,
            "POLYVISOR_AGENT_API_KEY": creds.agent_key(host_id),
            "POLYVISOR_STATE_DIR": str(layout.data(name) / "state"),
            "POLYVISOR_CACHE_DIR": str(layout.data(name) / "cache"),
            "POLYVISOR_CONSOLE_HOST": BIND_HOST,
        }

    ports["agent_kvm"] = service_ports("agent_kvm", recorded, taken)
    kvm_data = layout.data("agent_kvm")
    specs["agent_kvm"] = ServiceSpec(
        "agent_kvm", "agent_kvm", *ports["agent_kvm"],
        env={
            **agent_env("agent_kvm", socket.gethostname()),
            "POLYVISOR_LIBVIRT_URI": infra.libvirt_uri,
            "POLYVISOR_VIRT_TYPE": virt_type(infra.libvirt_uri),
            "POLYVISOR_INSTANCES_DIR": str(kvm_data / "instances"),
            "POLYVISOR_VNC_LISTEN": BIND_HOST,
            # The demo network's bridge, without uplink (traffic stays on this machine).
            "POLYVISOR_PHYSICAL_INTERFACE_MAPPINGS": f"{DEMO_PHYSICAL_NETWORK}:",
            "POLYVISOR_NFT_TABLE": nft_table(layout),
            **({"POLYVISOR_RBD_VOLUMES": "true", "POLYVISOR_RBD_CONF": infra.ceph_conf,
                "POLYVISOR_RBD_KEYRING": infra.ceph_keyring, "POLYVISOR_RBD_POOL": infra.ceph_pool}
               if infra.ceph_conf else {}),
        },
        info={"libvirt_uri": infra.libvirt_uri},
    )  # fmt: skip
    if lxc_host:
        ports[lxc.AGENT] = service_ports(lxc.AGENT, recorded, taken)
        specs[lxc.AGENT] = ServiceSpec(
            lxc.AGENT, "agent_kvm", *ports[lxc.AGENT],
            env={**agent_env(lxc.AGENT, lxc.host_id()), **lxc.agent_env(layout)},
            info={"libvirt_uri": lxc.URI},
        )  # fmt: skip
    for cluster in infra.clusters:
        name = f"agent_vmware-{cluster}"
        ports[name] = service_ports(name, recorded, taken)
        specs[name] = ServiceSpec(
            name, "agent_vmware", *ports[name],
            env={
                **agent_env(name, f"vmware-{cluster}"),
                "POLYVISOR_VCENTER_URL": infra.vcenter_url,
                "POLYVISOR_VCENTER_USER": infra.vcenter_user,
                "POLYVISOR_VCENTER_PASSWORD": infra.vcenter_password,
                "POLYVISOR_CLUSTER_NAME": cluster,
                "POLYVISOR_PHYSICAL_SWITCH_MAPPINGS": f"{DEMO_PHYSICAL_NETWORK}:vSwitch0",
                "POLYVISOR_VMDK_VOLUMES": "true",
            },
            info={"cluster_name": cluster, "vcenter_url": infra.vcenter_url},
        )  # fmt: skip
    if infra.baremetal is not None:
        # One process, one host per enrolled machine: each node's key is in its credentials.
        name = "agent_baremetal"
        ports[name] = service_ports(name, recorded, taken)
        env = agent_env(name, "baremetal")  # no host of its own: the nodes are its hosts
        for k in (
            "POLYVISOR_HOST_ID", "POLYVISOR_AGENT_API_KEY",  # per node, in its credentials
            "POLYVISOR_NETWORK_ADDRESS", "POLYVISOR_CONSOLE_HOST",  # no ports, no consoles
        ):  # fmt: skip
            env.pop(k)
        nodes_file, credentials = infra.baremetal
        specs[name] = ServiceSpec(
            name, "agent_baremetal", *ports[name],
            env={
                **env,
                "POLYVISOR_NODES_FILE": nodes_file,
                "POLYVISOR_BMC_CREDENTIALS_DIR": credentials,
                "POLYVISOR_MEDIA_HOST": BIND_HOST,
            },
            info={"nodes_file": nodes_file, "agent_hosts": ",".join(baremetal_hosts(nodes_file))},
        )  # fmt: skip
    return list(specs.values())


def baremetal_hosts(nodes_file: str) -> list[str]:
    from polyvisor.agent_baremetal.enrollment import load_nodes

    return [n.name for n in load_nodes(Path(nodes_file))]


def without_credentials(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def nats_users(creds: Credentials, specs: list[ServiceSpec]) -> list[NatsUser]:
    """The NATS identities of the stack's processes: a user per control-plane service (every
    subject), a restricted user per agent host (its own subjects only)."""
    from polyvisor.common.natsauth import agent_user, service_user

    users: dict[str, NatsUser] = {}
    for spec in specs:
        if spec.name in CONTROL_PLANE:
            users[spec.name] = service_user(spec.name, creds.nats_password(spec.name))
        elif "POLYVISOR_HOST_ID" in spec.env:
            host = spec.env["POLYVISOR_HOST_ID"]
            user = agent_user(host, spec.env["POLYVISOR_AGENT_API_KEY"])
            users[user.name] = user
        for host in filter(None, spec.info.get("agent_hosts", "").split(",")):
            user = agent_user(host, creds.agent_key(host))  # an agent of several hosts
            users[user.name] = user
    return list(users.values())


def process_env(spec: ServiceSpec) -> dict[str, str]:
    """The full environment of a service process: ours over the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYVISOR_DEV_")}
    if "POLYVISOR_DATABASE_URL" not in spec.env:
        env.pop("POLYVISOR_DATABASE_URL", None)  # never hand agents database credentials
    env.update(spec.env)
    return env
