-- The image catalogue: images, their renditions, and the event outbox.

CREATE TABLE imagesvc.images (
    id                 uuid PRIMARY KEY,
    name               text        NOT NULL DEFAULT '',
    owner              text        NOT NULL,
    visibility         text        NOT NULL DEFAULT 'private'
                       CHECK (visibility IN ('private', 'public', 'shared')),
    shared_with        text[]      NOT NULL DEFAULT '{}',
    status             text        NOT NULL DEFAULT 'queued'
                       CHECK (status IN ('queued', 'saving', 'active', 'killed', 'deleted')),
    status_message     text        NOT NULL DEFAULT '',
    disk_format        text        NOT NULL CHECK (disk_format IN ('raw', 'qcow2', 'vmdk', 'iso')),
    container_format   text        NOT NULL DEFAULT 'bare',
    size               bigint      NOT NULL DEFAULT 0,
    virtual_size       bigint      NOT NULL DEFAULT 0,
    os_hash_algo       text        NOT NULL DEFAULT '',
    os_hash_value      text        NOT NULL DEFAULT '',
    min_ram            bigint      NOT NULL DEFAULT 0,
    min_disk           bigint      NOT NULL DEFAULT 0,
    protected          boolean     NOT NULL DEFAULT false,
    hypervisor_type    text        NOT NULL DEFAULT '',
    architecture       text        NOT NULL DEFAULT '',
    vm_mode            text        NOT NULL DEFAULT '',
    vmware_disktype    text        NOT NULL DEFAULT '',
    vmware_adaptertype text        NOT NULL DEFAULT '',
    os_type            text        NOT NULL DEFAULT '',
    hw_disk_bus        text        NOT NULL DEFAULT '',
    vmware_ostype      text        NOT NULL DEFAULT '',
    extra_properties   jsonb       NOT NULL DEFAULT '{}'::jsonb,
    -- Idempotent create: one image per (owner, request_id).
    request_id         text,
    -- The process streaming an upload into this image (status saving) and its last sign of life.
    upload_owner       text,
    upload_heartbeat   timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    deleted_at         timestamptz
);

CREATE UNIQUE INDEX images_request_id ON imagesvc.images (owner, request_id)
    WHERE request_id IS NOT NULL;
CREATE INDEX images_page ON imagesvc.images (created_at, id);
CREATE INDEX images_owner ON imagesvc.images (owner);
CREATE INDEX images_shared_with ON imagesvc.images USING gin (shared_with);
CREATE INDEX images_saving ON imagesvc.images (upload_heartbeat) WHERE status = 'saving';

-- One row per stored format of an image. The original is the uploaded bytes; the others are
-- conversions, claimed by one process (claimed_by) with a conditional insert or update, so two
-- replicas never convert the same rendition at once.
CREATE TABLE imagesvc.renditions (
    image_id        uuid        NOT NULL REFERENCES imagesvc.images (id) ON DELETE CASCADE,
    disk_format     text        NOT NULL CHECK (disk_format IN ('raw', 'qcow2', 'vmdk', 'iso')),
    vmware_disktype text        NOT NULL DEFAULT '',
    status          text        NOT NULL
                    CHECK (status IN ('pending', 'converting', 'active', 'failed')),
    original        boolean     NOT NULL DEFAULT false,
    size            bigint      NOT NULL DEFAULT 0,
    virtual_size    bigint      NOT NULL DEFAULT 0,
    sha256          text        NOT NULL DEFAULT '',
    status_message  text        NOT NULL DEFAULT '',
    location        text        NOT NULL DEFAULT '',
    claimed_by      text,
    heartbeat_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (image_id, disk_format, vmware_disktype)
);

CREATE UNIQUE INDEX renditions_one_original ON imagesvc.renditions (image_id) WHERE original;

-- Events written in the same transaction as the change they describe, published to NATS by
-- a background loop (at least once; the event id de-duplicates in JetStream).
CREATE TABLE imagesvc.outbox (
    seq        bigserial   PRIMARY KEY,
    event_id   uuid        NOT NULL UNIQUE,
    image_id   uuid        NOT NULL,
    payload    jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
