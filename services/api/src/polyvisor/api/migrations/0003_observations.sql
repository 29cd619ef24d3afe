-- The newest observation of its power state applied to each server (lifecycle.supersedes):
-- the generation of the event, the agent process that sent it and the time on that agent's
-- clock. An older observation of the same generation and agent, delivered late (concurrent
-- handlers, redelivery after a nak, another api replica), is then ignored. Not part of the
-- server as users see it: writing it takes no revision.
ALTER TABLE servers
    ADD COLUMN last_observed_generation bigint NOT NULL DEFAULT 0,
    ADD COLUMN last_observed_by text NOT NULL DEFAULT '',
    ADD COLUMN last_observed_at timestamptz;
