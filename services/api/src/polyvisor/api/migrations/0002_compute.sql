-- Compute: flavors, keypairs, quotas, servers, their change log, the command outbox.

CREATE TABLE flavors (
    id          text PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    vcpus       integer NOT NULL CHECK (vcpus > 0),
    ram_mb      bigint NOT NULL CHECK (ram_mb > 0),
    disk_gb     bigint NOT NULL CHECK (disk_gb >= 0),
    extra_specs jsonb NOT NULL DEFAULT '{}',
    is_public   boolean NOT NULL DEFAULT true,
    description text NOT NULL DEFAULT '',
    create_time timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE flavor_projects (
    flavor_id  text NOT NULL REFERENCES flavors (id) ON DELETE CASCADE,
    project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    PRIMARY KEY (flavor_id, project_id)
);

CREATE TABLE keypairs (
    project_id  text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        text NOT NULL,
    fingerprint text NOT NULL,
    public_key  text NOT NULL,
    type        text NOT NULL DEFAULT 'SSH',
    create_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, user_id, name)
);

-- Limits (-1: unlimited) and usage, changed only by conditional UPDATEs in the same
-- transaction as the servers they count.
CREATE TABLE quotas (
    project_id     text PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    instances      bigint NOT NULL,
    vcpus          bigint NOT NULL,
    ram_mb         bigint NOT NULL,
    used_instances bigint NOT NULL DEFAULT 0 CHECK (used_instances >= 0),
    used_vcpus     bigint NOT NULL DEFAULT 0 CHECK (used_vcpus >= 0),
    used_ram_mb    bigint NOT NULL DEFAULT 0 CHECK (used_ram_mb >= 0)
);

CREATE TABLE server_groups (
    id          text PRIMARY KEY,
    project_id  text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name        text NOT NULL,
    policy      text NOT NULL,
    request_id  text NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, request_id)
);

CREATE SEQUENCE server_revision_seq;

CREATE TABLE servers (
    id                  text PRIMARY KEY,
    project_id          text NOT NULL,
    user_id             text NOT NULL,
    name                text NOT NULL,
    image_id            text NOT NULL,
    -- The flavor as it was at create time.
    flavor              jsonb NOT NULL,
    vcpus               integer NOT NULL,
    ram_mb              bigint NOT NULL,
    state               text NOT NULL,
    task                text NOT NULL,
    task_deadline       timestamptz,
    power_state         text NOT NULL,
    desired_power_state text NOT NULL,
    fault               jsonb,
    host                text NOT NULL DEFAULT '',
    hypervisor_type     text NOT NULL DEFAULT '',
    esxi_host           text NOT NULL DEFAULT '',
    availability_zone   text NOT NULL DEFAULT '',
    addresses           jsonb NOT NULL DEFAULT '[]',
    key_name            text NOT NULL DEFAULT '',
    has_user_data       boolean NOT NULL DEFAULT false,
    metadata            jsonb NOT NULL DEFAULT '{}',
    console             jsonb,
    create_time         timestamptz NOT NULL DEFAULT now(),
    update_time         timestamptz NOT NULL DEFAULT now(),
    launch_time         timestamptz,
    delete_time         timestamptz,
    -- Bumped on every command to the agent; events older than it are stale.
    generation          bigint NOT NULL DEFAULT 1,
    request_id          text NOT NULL,
    request_index       integer NOT NULL DEFAULT 0,
    -- Position in the project's change log (server_revision_seq).
    revision            bigint NOT NULL,
    attempts            integer NOT NULL DEFAULT 0,
    instance_name       text NOT NULL DEFAULT '',
    command_attempts    integer NOT NULL DEFAULT 0,
    tried_hosts         text[] NOT NULL DEFAULT '{}',
    alternates          jsonb NOT NULL DEFAULT '[]',
    last_request_id     text NOT NULL DEFAULT '',
    server_group_id     text NOT NULL DEFAULT '',
    -- What scheduling and the spawn command need (image facts, public key, hints).
    spawn               jsonb NOT NULL DEFAULT '{}',
    user_data           bytea
);
-- Idempotent create: a repeated request id finds the servers of the first call.
CREATE UNIQUE INDEX servers_request ON servers (project_id, request_id, request_index);
CREATE INDEX servers_project_live ON servers (project_id, id) WHERE state <> 'DELETED';
CREATE INDEX servers_project_all ON servers (project_id, id);
CREATE INDEX servers_host ON servers (host, id) WHERE host <> '';
CREATE INDEX servers_deadline ON servers (task_deadline) WHERE task_deadline IS NOT NULL;
CREATE INDEX servers_group ON servers (server_group_id) WHERE server_group_id <> '';

-- The change log WatchServers replays: one row per change, the server as it was after it.
CREATE TABLE server_changes (
    revision    bigint PRIMARY KEY,
    project_id  text NOT NULL,
    server_id   text NOT NULL,
    change_type text NOT NULL,
    snapshot    jsonb NOT NULL,
    change_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX server_changes_project ON server_changes (project_id, revision);
CREATE INDEX server_changes_time ON server_changes (change_time);

-- Per project, the oldest revision still in the log (older ones were pruned).
CREATE TABLE change_horizons (
    project_id   text PRIMARY KEY,
    min_revision bigint NOT NULL
);

-- Work that must happen after a commit (call the scheduler, publish a command), claimed by
-- any replica with a lease; per server, only the oldest entry is ever claimable.
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    server_id    text NOT NULL,
    kind         text NOT NULL,
    payload      jsonb NOT NULL DEFAULT '{}',
    body         bytea,
    available_at timestamptz NOT NULL DEFAULT now(),
    attempts     integer NOT NULL DEFAULT 0,
    lease        text,
    leased_until timestamptz,
    last_error   text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_server ON outbox (server_id, id);
CREATE INDEX outbox_available ON outbox (available_at, id);

CREATE TABLE console_tokens (
    token_digest text PRIMARY KEY,
    server_id    text NOT NULL,
    project_id   text NOT NULL,
    type         text NOT NULL,
    host         text NOT NULL,
    port         integer NOT NULL,
    expire_time  timestamptz NOT NULL
);
CREATE INDEX console_tokens_expiry ON console_tokens (expire_time);
