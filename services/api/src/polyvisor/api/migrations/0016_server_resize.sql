-- A resize not yet confirmed or reverted (models.Resize as JSON): the old flavor and host a
-- revert returns to, the destination host, when it is confirmed on its own. NULL: none.
ALTER TABLE servers
    ADD COLUMN resize jsonb;
