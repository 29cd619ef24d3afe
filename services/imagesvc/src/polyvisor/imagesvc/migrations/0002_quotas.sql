-- Per-project quotas on what renditions cost.
--
-- Stored bytes: the sizes of a project's renditions (originals included) count against its
-- quota, and a conversion in progress holds `reserved_bytes` (the most it may write) until it
-- ends, so replicas converting for one project at once cannot together exceed it.
ALTER TABLE imagesvc.renditions ADD COLUMN reserved_bytes bigint NOT NULL DEFAULT 0;

-- Conversion time: each conversion's wall-clock seconds, kept when its image is deleted (a
-- project must not earn its time back by deleting what it converted).
CREATE TABLE imagesvc.conversion_usage (
    seq         bigserial        PRIMARY KEY,
    project     text             NOT NULL,
    image_id    uuid             NOT NULL,
    seconds     double precision NOT NULL,
    finished_at timestamptz      NOT NULL DEFAULT now()
);

CREATE INDEX conversion_usage_project ON imagesvc.conversion_usage (project, finished_at);
