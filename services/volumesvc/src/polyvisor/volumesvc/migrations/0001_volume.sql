-- Volume types, volumes, their attachments and snapshots, quotas, and the event outbox.

CREATE TABLE volume.volume_types (
    id               uuid        PRIMARY KEY,
    name             text        NOT NULL UNIQUE CHECK (name <> ''),
    backend          text        NOT NULL CHECK (backend <> ''),
    hypervisor_types text[]      NOT NULL DEFAULT '{}',
    multiattach      boolean     NOT NULL DEFAULT false,
    description      text        NOT NULL DEFAULT '',
    extra_specs      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE volume.volumes (
    id                 uuid        PRIMARY KEY,
    name               text        NOT NULL DEFAULT '',
    description        text        NOT NULL DEFAULT '',
    project_id         text        NOT NULL,
    size_gb            integer     NOT NULL CHECK (size_gb > 0),
    type_id            uuid        NOT NULL REFERENCES volume.volume_types (id),
    status             text        NOT NULL CHECK (status IN ('creating', 'available',
                           'attaching', 'in-use', 'detaching', 'extending', 'deleting',
                           'error')),
    bootable           boolean     NOT NULL DEFAULT false,
    source_image_id    text        NOT NULL DEFAULT '',
    source_snapshot_id text        NOT NULL DEFAULT '',
    -- what the backend answered when it made the volume (a path, a datastore path, ...)
    location           text        NOT NULL DEFAULT '',
    fault              text        NOT NULL DEFAULT '',
    request_id         text,
    -- per-volume event sequence
    sequence           bigint      NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX volumes_project ON volume.volumes (project_id, id);
CREATE UNIQUE INDEX volumes_request_id ON volume.volumes (project_id, request_id)
    WHERE request_id IS NOT NULL;

CREATE TABLE volume.attachments (
    volume_id             uuid        NOT NULL REFERENCES volume.volumes (id),
    server_id             text        NOT NULL,
    host                  text        NOT NULL DEFAULT '',
    hypervisor_type       text        NOT NULL DEFAULT '',
    state                 text        NOT NULL CHECK (state IN ('attaching', 'attached',
                              'detaching')),
    root                  boolean     NOT NULL DEFAULT false,
    delete_on_termination boolean     NOT NULL DEFAULT false,
    created_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (volume_id, server_id)
);

CREATE INDEX attachments_server ON volume.attachments (server_id);

CREATE TABLE volume.snapshots (
    id          uuid        PRIMARY KEY,
    volume_id   uuid        NOT NULL REFERENCES volume.volumes (id),
    project_id  text        NOT NULL,
    name        text        NOT NULL DEFAULT '',
    description text        NOT NULL DEFAULT '',
    size_gb     integer     NOT NULL,
    status      text        NOT NULL CHECK (status IN ('creating', 'available', 'deleting',
                    'error')),
    location    text        NOT NULL DEFAULT '',
    request_id  text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX snapshots_volume ON volume.snapshots (volume_id);
CREATE INDEX snapshots_project ON volume.snapshots (project_id, id);
CREATE UNIQUE INDEX snapshots_request_id ON volume.snapshots (project_id, request_id)
    WHERE request_id IS NOT NULL;

-- A project's limits; no row: the service's defaults. -1: no limit.
CREATE TABLE volume.quotas (
    project_id text   PRIMARY KEY,
    volumes    bigint NOT NULL,
    gigabytes  bigint NOT NULL,
    snapshots  bigint NOT NULL
);

-- Events written in the same transaction as the change they describe, published to NATS
-- by a background loop (at least once; the event id de-duplicates in JetStream).
CREATE TABLE volume.outbox (
    seq        bigserial   PRIMARY KEY,
    event_id   uuid        NOT NULL UNIQUE,
    subject    text        NOT NULL,
    -- polyvisor.volume.v1.VolumeEvent
    payload    bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
