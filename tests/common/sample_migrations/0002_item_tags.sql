CREATE TABLE item_tags (
    item_id bigint NOT NULL REFERENCES items(id),
    tag     text NOT NULL,
    PRIMARY KEY (item_id, tag)
);

-- a data migration: applied twice, it would leave two rows
CREATE TABLE migration_runs (note text NOT NULL);
INSERT INTO migration_runs (note) VALUES ('0002');
