-- Action history: one row per request made to a server (as Nova's instance actions). Not a
-- foreign key to servers: the rows outlive the server's deletion for the configured
-- retention (POLYVISOR_ACTION_RETENTION_S), then the reaper removes them.
CREATE TABLE server_actions (
    server_id   text NOT NULL,
    request_id  text NOT NULL,
    project_id  text NOT NULL,
    user_id     text NOT NULL,
    action      text NOT NULL,
    start_time  timestamptz NOT NULL,
    finish_time timestamptz,
    -- IN_PROGRESS, SUCCESS, ERROR (ServerActionResult without its prefix)
    result      text NOT NULL DEFAULT 'IN_PROGRESS',
    fault       jsonb,
    PRIMARY KEY (server_id, request_id)
);

CREATE INDEX server_actions_by_time ON server_actions (server_id, start_time DESC);
CREATE INDEX server_actions_open ON server_actions (server_id) WHERE finish_time IS NULL;
