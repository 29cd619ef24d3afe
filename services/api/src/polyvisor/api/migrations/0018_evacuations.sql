-- The hosts each server was evacuated from (EvacuateHypervisor): when such a host's agent
-- comes back, a copy of the server still there is stale (AgentCallbackService.
-- ListEvacuatedServers tells the agent, which destroys it). Gone with the server's row.
CREATE TABLE evacuations (
    server_id text NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    source_host text NOT NULL,
    evacuated_at timestamptz NOT NULL,
    PRIMARY KEY (source_host, server_id)
);
