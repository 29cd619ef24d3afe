-- A move (resize, migration) claims its destination under a consumer of its own (the
-- server's id with a suffix) while the server's own claim stays where it was. Confirming the
-- move replaces the server's claim by that one: the old allocation goes and the move's becomes
-- the server's, in one transaction, so the server never holds two claims nor none.
--
-- status: replaced, absent (p_with holds nothing: nothing changed, a repeated request).
-- provider_id: where p_consumer's claim is afterwards (NULL when it holds none).
CREATE FUNCTION replace_allocation(
    p_consumer text, p_with text,
    OUT status text, OUT provider_id text, OUT old_provider_id text
) LANGUAGE plpgsql AS $$
DECLARE
    w record;
    o record;
BEGIN
    -- Lock order everywhere: allocation rows, then provider rows by id.
    SELECT * INTO o FROM allocations a WHERE a.consumer_id = p_consumer FOR UPDATE;
    SELECT * INTO w FROM allocations a WHERE a.consumer_id = p_with FOR UPDATE;
    IF w IS NULL THEN
        status := 'absent';
        provider_id := o.provider_id;
        RETURN;
    END IF;
    old_provider_id := o.provider_id;
    PERFORM 1 FROM providers p WHERE p.id IN (w.provider_id, o.provider_id) ORDER BY p.id
        FOR UPDATE;
    DELETE FROM allocations a WHERE a.consumer_id = p_consumer;
    UPDATE allocations a SET consumer_id = p_consumer WHERE a.consumer_id = p_with;
    UPDATE providers p SET generation = p.generation + 1
     WHERE p.id IN (w.provider_id, o.provider_id);
    status := 'replaced';
    provider_id := w.provider_id;
END
$$;
