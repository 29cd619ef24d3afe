-- What the action in flight was asked, beyond its verb (the image a snapshot makes, the
-- image a rebuild installs): the deadlines rebuild the command from it when they retry.
ALTER TABLE servers
    ADD COLUMN action_args jsonb NOT NULL DEFAULT '{}'::jsonb;
