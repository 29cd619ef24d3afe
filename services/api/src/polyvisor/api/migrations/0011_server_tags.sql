-- Server tags (AddServerTag, RemoveServerTag; ListServers filters on them).
ALTER TABLE servers
    ADD COLUMN tags text[] NOT NULL DEFAULT '{}';

CREATE INDEX servers_tags ON servers USING gin (tags);
