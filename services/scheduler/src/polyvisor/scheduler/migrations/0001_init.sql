-- The scheduler's schema: resource providers (hosts), their inventories and capabilities,
-- allocations (claims) keyed by consumer, and recent build failures.
--
-- Claims follow Placement: every change to a provider's inventory or allocations bumps its
-- generation, and a claim succeeds only against the generation its caller saw
-- (compare-and-swap) and only if the summed allocations still leave room, checked while the
-- provider's row is locked. Several scheduler replicas can claim at once; none over-commits.

CREATE SEQUENCE change_seq;

CREATE TABLE providers (
    id                 text PRIMARY KEY,
    hostname           text NOT NULL,
    hypervisor_type    smallint NOT NULL,
    hypervisor_version text NOT NULL DEFAULT '',
    availability_zone  text NOT NULL DEFAULT '',
    -- supported instances, native disk formats, features, cluster and ESXi hosts, host ip
    capabilities       jsonb NOT NULL DEFAULT '{}',
    enabled            boolean NOT NULL DEFAULT true,
    disabled_reason    text NOT NULL DEFAULT '',
    connected          boolean NOT NULL DEFAULT true,
    generation         bigint NOT NULL DEFAULT 0,
    -- Set from change_seq on every update, so replicas refresh only what changed.
    changed_seq        bigint NOT NULL DEFAULT nextval('change_seq'),
    last_report_at     timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX providers_changed_seq ON providers (changed_seq);

-- resource_class: 1 VCPU, 2 MEMORY_MB, 3 DISK_GB (the contract's ResourceClass numbers).
-- max_unit NULL: no limit beyond capacity; 0: nothing fits (a cluster with no usable host).
CREATE TABLE inventories (
    provider_id      text NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    resource_class   smallint NOT NULL CHECK (resource_class BETWEEN 1 AND 3),
    total            bigint NOT NULL CHECK (total >= 0),
    reserved         bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    allocation_ratio double precision NOT NULL DEFAULT 1.0 CHECK (allocation_ratio > 0),
    min_unit         bigint NOT NULL DEFAULT 1 CHECK (min_unit >= 1),
    max_unit         bigint CHECK (max_unit >= 0),
    step_size        bigint NOT NULL DEFAULT 1 CHECK (step_size >= 1),
    PRIMARY KEY (provider_id, resource_class)
);

CREATE TABLE allocations (
    consumer_id text PRIMARY KEY,
    provider_id text NOT NULL REFERENCES providers (id),
    vcpus       bigint NOT NULL CHECK (vcpus >= 0),
    memory_mb   bigint NOT NULL CHECK (memory_mb >= 0),
    disk_gb     bigint NOT NULL CHECK (disk_gb >= 0),
    project_id  text NOT NULL DEFAULT '',
    user_id     text NOT NULL DEFAULT '',
    request_id  text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX allocations_provider ON allocations (provider_id);

CREATE TABLE build_failures (
    id          bigserial PRIMARY KEY,
    provider_id text NOT NULL,
    consumer_id text NOT NULL,
    reason      text NOT NULL DEFAULT '',
    failed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX build_failures_failed_at ON build_failures (failed_at);

CREATE FUNCTION providers_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.changed_seq := nextval('change_seq');
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

CREATE TRIGGER providers_touch BEFORE UPDATE ON providers
    FOR EACH ROW EXECUTE FUNCTION providers_touch();

-- The allocations on a provider, summed. Called with the provider's row locked, it sees every
-- committed allocation (each statement of a READ COMMITTED function takes a new snapshot).
CREATE FUNCTION provider_used(
    p_provider text,
    OUT vcpus bigint, OUT memory_mb bigint, OUT disk_gb bigint, OUT allocation_count bigint
) LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(a.vcpus), 0)::bigint, coalesce(sum(a.memory_mb), 0)::bigint,
           coalesce(sum(a.disk_gb), 0)::bigint, count(*)
      FROM allocations a WHERE a.provider_id = p_provider
$$;

-- Whether the provider has room for one more consumer of this size: for every class asked
-- for, an inventory exists, used + asked <= (total - reserved) * ratio, min_unit <= asked <=
-- max_unit, and asked is a multiple of step_size. Call with the provider's row locked.
CREATE FUNCTION provider_fits(
    p_provider text, p_vcpus bigint, p_memory_mb bigint, p_disk_gb bigint
) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
DECLARE
    u record;
    want bigint[] := ARRAY[p_vcpus, p_memory_mb, p_disk_gb];
    have bigint[];
    inv record;
    rc int;
BEGIN
    SELECT * INTO u FROM provider_used(p_provider);
    have := ARRAY[u.vcpus, u.memory_mb, u.disk_gb];
    FOR rc IN 1..3 LOOP
        CONTINUE WHEN want[rc] <= 0;
        SELECT * INTO inv FROM inventories i
         WHERE i.provider_id = p_provider AND i.resource_class = rc;
        IF NOT FOUND
           OR have[rc] + want[rc] > floor((inv.total - inv.reserved) * inv.allocation_ratio)
           OR (inv.max_unit IS NOT NULL AND want[rc] > inv.max_unit)
           OR want[rc] < inv.min_unit
           OR want[rc] % inv.step_size <> 0 THEN
            RETURN false;
        END IF;
    END LOOP;
    RETURN true;
END
$$;

-- Claim: one round trip. status is one of
--   claimed      the allocation is written; generation and used are the provider's new ones
--   conflict     the provider's generation is not p_generation (someone else changed it)
--   no_capacity  the generation matched but the provider has no room
--   exists       the consumer already holds an allocation (possibly on another provider)
--   no_provider  unknown provider
-- For every status but exists and no_provider, generation and used are the provider's
-- current values, so the caller refreshes its view without another query.
CREATE FUNCTION claim(
    p_consumer text, p_provider text, p_generation bigint,
    p_vcpus bigint, p_memory_mb bigint, p_disk_gb bigint,
    p_project text, p_user text, p_request text,
    OUT status text, OUT generation bigint,
    OUT used_vcpus bigint, OUT used_memory_mb bigint, OUT used_disk_gb bigint,
    OUT allocation_count bigint
) LANGUAGE plpgsql AS $$
DECLARE
    current_gen bigint;
    u record;
BEGIN
    IF EXISTS (SELECT 1 FROM allocations a WHERE a.consumer_id = p_consumer) THEN
        status := 'exists';
        RETURN;
    END IF;
    SELECT p.generation INTO current_gen FROM providers p WHERE p.id = p_provider FOR UPDATE;
    IF NOT FOUND THEN
        status := 'no_provider';
        RETURN;
    END IF;
    IF current_gen <> p_generation THEN
        status := 'conflict';
    ELSIF NOT provider_fits(p_provider, p_vcpus, p_memory_mb, p_disk_gb) THEN
        status := 'no_capacity';
    ELSE
        INSERT INTO allocations (consumer_id, provider_id, vcpus, memory_mb, disk_gb,
                                 project_id, user_id, request_id)
        VALUES (p_consumer, p_provider, p_vcpus, p_memory_mb, p_disk_gb,
                p_project, p_user, p_request);
        UPDATE providers p SET generation = p.generation + 1
         WHERE p.id = p_provider AND p.generation = p_generation
        RETURNING p.generation INTO current_gen;
        status := 'claimed';
    END IF;
    generation := current_gen;
    SELECT * INTO u FROM provider_used(p_provider);
    used_vcpus := u.vcpus;
    used_memory_mb := u.memory_mb;
    used_disk_gb := u.disk_gb;
    allocation_count := u.allocation_count;
END
$$;

-- Release: delete the consumer's allocation, bump its provider, record a build failure if
-- asked. provider_id is NULL when the consumer held nothing.
CREATE FUNCTION release(
    p_consumer text, p_build_failed boolean, p_reason text,
    OUT provider_id text, OUT generation bigint,
    OUT used_vcpus bigint, OUT used_memory_mb bigint, OUT used_disk_gb bigint,
    OUT allocation_count bigint
) LANGUAGE plpgsql AS $$
DECLARE
    u record;
BEGIN
    -- Lock order everywhere: the allocation row, then provider rows by id.
    SELECT a.provider_id INTO provider_id FROM allocations a
     WHERE a.consumer_id = p_consumer FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    PERFORM 1 FROM providers p WHERE p.id = provider_id FOR UPDATE;
    DELETE FROM allocations a WHERE a.consumer_id = p_consumer;
    UPDATE providers p SET generation = p.generation + 1 WHERE p.id = provider_id
    RETURNING p.generation INTO generation;
    IF p_build_failed THEN
        INSERT INTO build_failures (provider_id, consumer_id, reason)
        VALUES (provider_id, p_consumer, p_reason);
    END IF;
    SELECT * INTO u FROM provider_used(provider_id);
    used_vcpus := u.vcpus;
    used_memory_mb := u.memory_mb;
    used_disk_gb := u.disk_gb;
    allocation_count := u.allocation_count;
END
$$;

-- Move a consumer's allocation to another provider (a reschedule to an alternate).
-- status: moved, unchanged (already there), no_allocation, from_mismatch, no_provider,
-- no_capacity. from_provider is where the allocation was.
CREATE FUNCTION move_allocation(
    p_consumer text, p_to text, p_expected_from text, p_build_failed boolean, p_reason text,
    OUT status text, OUT from_provider text
) LANGUAGE plpgsql AS $$
DECLARE
    a record;
BEGIN
    SELECT * INTO a FROM allocations al WHERE al.consumer_id = p_consumer FOR UPDATE;
    IF NOT FOUND THEN
        status := 'no_allocation';
        RETURN;
    END IF;
    from_provider := a.provider_id;
    IF p_expected_from <> '' AND p_expected_from <> a.provider_id THEN
        status := 'from_mismatch';
        RETURN;
    END IF;
    IF a.provider_id = p_to THEN
        status := 'unchanged';
        RETURN;
    END IF;
    PERFORM 1 FROM providers p WHERE p.id IN (a.provider_id, p_to) ORDER BY p.id FOR UPDATE;
    IF NOT EXISTS (SELECT 1 FROM providers p WHERE p.id = p_to) THEN
        status := 'no_provider';
        RETURN;
    END IF;
    IF NOT provider_fits(p_to, a.vcpus, a.memory_mb, a.disk_gb) THEN
        status := 'no_capacity';
        RETURN;
    END IF;
    UPDATE allocations al SET provider_id = p_to WHERE al.consumer_id = p_consumer;
    UPDATE providers p SET generation = p.generation + 1 WHERE p.id IN (a.provider_id, p_to);
    IF p_build_failed THEN
        INSERT INTO build_failures (provider_id, consumer_id, reason)
        VALUES (a.provider_id, p_consumer, p_reason);
    END IF;
    status := 'moved';
END
$$;

-- A host's report: insert or update the provider and its inventories; the generation moves
-- only when an inventory changed (claims in flight then fail their compare-and-swap and
-- re-check). Inventories come as parallel arrays indexed by resource class - 1; a NULL total
-- means the class is absent. Returns the provider's generation.
CREATE FUNCTION put_provider(
    p_id text, p_hostname text, p_hypervisor_type smallint, p_hypervisor_version text,
    p_availability_zone text, p_capabilities jsonb, p_connected boolean,
    p_reported_at timestamptz,
    p_total bigint[], p_reserved bigint[], p_ratio double precision[],
    p_min_unit bigint[], p_max_unit bigint[], p_step bigint[],
    OUT generation bigint, OUT inventory_changed boolean
) LANGUAGE plpgsql AS $$
DECLARE
    rc int;
    n int;
BEGIN
    INSERT INTO providers (id, hostname, hypervisor_type, hypervisor_version,
                           availability_zone, capabilities, connected, last_report_at)
    VALUES (p_id, p_hostname, p_hypervisor_type, p_hypervisor_version,
            p_availability_zone, p_capabilities, p_connected, p_reported_at)
    ON CONFLICT (id) DO NOTHING;
    PERFORM 1 FROM providers p WHERE p.id = p_id FOR UPDATE;
    UPDATE providers p SET hostname = p_hostname, hypervisor_type = p_hypervisor_type,
           hypervisor_version = p_hypervisor_version, availability_zone = p_availability_zone,
           capabilities = p_capabilities, connected = p_connected,
           last_report_at = greatest(p.last_report_at, p_reported_at)
     WHERE p.id = p_id
       AND (p.hostname, p.hypervisor_type, p.hypervisor_version, p.availability_zone,
            p.capabilities, p.connected)
           IS DISTINCT FROM
           (p_hostname, p_hypervisor_type, p_hypervisor_version, p_availability_zone,
            p_capabilities, p_connected);
    inventory_changed := false;
    FOR rc IN 1..3 LOOP
        IF p_total[rc] IS NULL THEN
            DELETE FROM inventories i WHERE i.provider_id = p_id AND i.resource_class = rc;
        ELSE
            INSERT INTO inventories AS i (provider_id, resource_class, total, reserved,
                                          allocation_ratio, min_unit, max_unit, step_size)
            VALUES (p_id, rc, p_total[rc], p_reserved[rc], p_ratio[rc], p_min_unit[rc],
                    p_max_unit[rc], p_step[rc])
            ON CONFLICT (provider_id, resource_class) DO UPDATE
               SET total = EXCLUDED.total, reserved = EXCLUDED.reserved,
                   allocation_ratio = EXCLUDED.allocation_ratio,
                   min_unit = EXCLUDED.min_unit, max_unit = EXCLUDED.max_unit,
                   step_size = EXCLUDED.step_size
             WHERE (i.total, i.reserved, i.allocation_ratio, i.min_unit, i.max_unit,
                    i.step_size)
                   IS DISTINCT FROM
                   (EXCLUDED.total, EXCLUDED.reserved, EXCLUDED.allocation_ratio,
                    EXCLUDED.min_unit, EXCLUDED.max_unit, EXCLUDED.step_size);
        END IF;
        GET DIAGNOSTICS n = ROW_COUNT;
        inventory_changed := inventory_changed OR n > 0;
    END LOOP;
    IF inventory_changed THEN
        UPDATE providers p SET generation = p.generation + 1 WHERE p.id = p_id
        RETURNING p.generation INTO generation;
    ELSE
        SELECT p.generation INTO generation FROM providers p WHERE p.id = p_id;
    END IF;
END
$$;
