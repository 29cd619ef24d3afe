"""NATS users and their subject permissions (the `authorization` block of nats-server).

Every client authenticates (user and password in the URL, or `POLYVISOR_NATS_USER` /
`_PASSWORD`). Control-plane services (api, scheduler, imagesvc) may use every subject. An
agent's user, ``agent-<host>`` (its password is the agent's own key), may only:

- publish its host's reports (``hosts.report.<host>``) and its host's server events
  (``events.server.<host>.<server>``);
- consume its own command subject through its own durable consumer on AGENT_CMD
  (``agent-<host>``: create it, read its info, pull from it, acknowledge its messages);
- read the streams' info, and use its own key of the VMware lease bucket;
- follow the network service's port and security group events (``events.network.port.>``,
  ``events.network.security_group.>``, plain subscriptions: the KVM data plane applies them
  live and resyncs its host's ports from the network service for whatever it missed);
- receive the api's requests to its host (``agent.<host>.query.>``, core NATS) and publish
  only the replies to them (``allow_responses``: one reply per request received);
- receive replies only under its own inbox prefix (``_INBOX_<user>``, which `Bus.connect` sets
  from the user name), so it cannot read another client's replies, such as the commands
  another agent pulls.

It can neither subscribe to nor pull another host's commands, nor publish another host's
events or reports, nor publish commands.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from polyvisor.common.bus.subjects import subject_token

__all__ = [
    "AGENT_LEASE_BUCKET",
    "NatsUser",
    "agent_nats_user",
    "agent_user",
    "authorization_block",
    "inbox_prefix",
    "service_user",
    "users_in_config",
]

#: The VMware agents' lease bucket (agent_vmware's default `lease_bucket`).
AGENT_LEASE_BUCKET = "agent_leases"


def inbox_prefix(user: str) -> str:
    """The reply inbox prefix of a NATS user (what it alone may subscribe to)."""
    return f"_INBOX_{subject_token(user)}"


def agent_nats_user(host: str) -> str:
    return f"agent-{subject_token(host)}"


@dataclass(frozen=True, slots=True)
class NatsUser:
    name: str
    password: str
    #: Subjects it may publish to / subscribe to (None: every subject).
    publish: tuple[str, ...] | None = None
    subscribe: tuple[str, ...] | None = None
    #: May publish one reply to each request it received (NATS' allow_responses).
    allow_responses: bool = False

    def as_config(self) -> dict[str, object]:
        entry: dict[str, object] = {"user": self.name, "password": self.password}
        perms: dict[str, object] = {}
        if self.publish is not None:
            perms["publish"] = {"allow": list(self.publish)}
        if self.subscribe is not None:
            perms["subscribe"] = {"allow": list(self.subscribe)}
        if self.allow_responses:
            perms["allow_responses"] = True
        if perms:
            entry["permissions"] = perms
        return entry

    @classmethod
    def from_config(cls, entry: dict[str, object]) -> NatsUser:
        """The user an `as_config` entry describes."""
        perms = entry.get("permissions")
        perms = perms if isinstance(perms, dict) else {}

        def allowed(kind: str) -> tuple[str, ...] | None:
            rule = perms.get(kind)
            if not isinstance(rule, dict) or not isinstance(rule.get("allow"), list):
                return None
            return tuple(str(s) for s in rule["allow"])

        return cls(
            name=str(entry.get("user", "")),
            password=str(entry.get("password", "")),
            publish=allowed("publish"),
            subscribe=allowed("subscribe"),
            allow_responses=bool(perms.get("allow_responses", False)),
        )


def service_user(name: str, password: str) -> NatsUser:
    """A control-plane service: every subject."""
    return NatsUser(name, password)


def agent_user(host: str, password: str, lease_bucket: str = AGENT_LEASE_BUCKET) -> NatsUser:
    """The agent of `host` (see the module docstring)."""
    t = subject_token(host)
    user = agent_nats_user(host)
    consumer = user  # agentkit.bus.consumer_name(host)
    kv = f"KV_{lease_bucket}"
    return NatsUser(
        user,
        password,
        publish=(
            f"hosts.report.{t}",
            f"events.server.{t}.*",
            "$JS.API.INFO",
            "$JS.API.STREAM.INFO.AGENT_CMD",
            "$JS.API.STREAM.INFO.EVENTS",
            "$JS.API.STREAM.INFO.HOSTS",
            f"$JS.API.CONSUMER.CREATE.AGENT_CMD.{consumer}",
            f"$JS.API.CONSUMER.CREATE.AGENT_CMD.{consumer}.agent.{t}.cmd",
            f"$JS.API.CONSUMER.DURABLE.CREATE.AGENT_CMD.{consumer}",
            f"$JS.API.CONSUMER.INFO.AGENT_CMD.{consumer}",
            f"$JS.API.CONSUMER.MSG.NEXT.AGENT_CMD.{consumer}",
            f"$JS.ACK.AGENT_CMD.{consumer}.>",
            f"$JS.API.STREAM.INFO.{kv}",
            f"$JS.API.STREAM.CREATE.{kv}",
            f"$JS.API.STREAM.MSG.GET.{kv}",
            f"$JS.API.DIRECT.GET.{kv}.$KV.{lease_bucket}.{t}",
            f"$KV.{lease_bucket}.{t}",
        ),
        subscribe=(
            f"{inbox_prefix(user)}.>",
            "events.network.port.>",
            "events.network.security_group.>",
            f"agent.{t}.query.>",
        ),
        allow_responses=True,
    )


def authorization_block(users: Iterable[NatsUser]) -> str:
    """The nats-server configuration `authorization { users = [...] }` for `users` (JSON
    values are valid in nats-server's configuration syntax)."""
    entries = [u.as_config() for u in users]
    if not entries:
        raise ValueError("NATS without users would accept anyone")
    return "authorization {\n  users = " + json.dumps(entries, indent=2) + "\n}\n"


def users_in_config(text: str, but: str = "") -> list[NatsUser]:
    """The users (all but the one named `but`) of a configuration `server_config` wrote ([]
    when it has none)."""
    _, sep, tail = text.partition("users = ")
    if not sep:
        return []
    try:
        entries, _ = json.JSONDecoder().raw_decode(tail)
    except ValueError:
        return []
    users = [NatsUser.from_config(e) for e in entries if isinstance(e, dict)]
    return [u for u in users if u.name != but]


def server_config(*, host: str, port: int, store_dir: str, users: Sequence[NatsUser]) -> str:
    return (
        f"listen: {json.dumps(f'{host}:{port}')}\n"
        f"jetstream {{ store_dir: {json.dumps(store_dir)} }}\n" + authorization_block(users)
    )
