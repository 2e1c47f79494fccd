-- An append in one statement, so one round trip: claim the source events, check every
-- aggregate's expected version, insert the events and their outbox rows, save the snapshots
-- due, and return the new positions along with the positions of events of the same aggregates
-- still in the outbox from earlier (they must reach the topic first). As one statement it
-- commits or rolls back whole. Under load the command agent waited for each round trip of the
-- transaction it replaces (BEGIN, claim, check, insert, snapshots, COMMIT) behind the rest of
-- the worker's event loop.
--
-- Raises SQLSTATE CR001 when a source event was already processed (DETAIL: their ids, JSON) and
-- CR002 when an aggregate is not at its expected version (DETAIL: aggregate_id, expected,
-- actual, JSON). A concurrent writer that commits the same versions first still surfaces as a
-- unique violation of (aggregate_id, version).
CREATE FUNCTION append_events(
    source_event_ids text[], source_aggregate_ids uuid[],
    expected_aggregate_ids uuid[], expected_versions integer[],
    event_ids uuid[], aggregate_ids uuid[], aggregate_types text[], versions integer[],
    event_types text[], occurred_ats timestamptz[], datas jsonb[], metadatas jsonb[],
    snapshot_aggregate_ids uuid[], snapshot_types text[], snapshot_versions integer[],
    snapshot_states jsonb[])
RETURNS TABLE (event_id uuid, "position" bigint, recorded_at timestamptz, earlier boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    duplicates text[];
    conflict record;
BEGIN
    WITH claimed AS (
        INSERT INTO processed_source_events (source_event_id, aggregate_id)
        SELECT * FROM unnest(source_event_ids, source_aggregate_ids)
        ON CONFLICT DO NOTHING
        RETURNING source_event_id
    )
    SELECT array_agg(wanted.id) INTO duplicates
    FROM unnest(source_event_ids) AS wanted(id)
    WHERE wanted.id NOT IN (SELECT source_event_id FROM claimed);
    IF duplicates IS NOT NULL THEN
        RAISE EXCEPTION 'source events already processed: %', duplicates
            USING ERRCODE = 'CR001', DETAIL = to_json(duplicates)::text;
    END IF;

    SELECT expected.id, expected.version AS expected, current.version AS actual INTO conflict
    FROM unnest(expected_aggregate_ids, expected_versions) AS expected(id, version)
    CROSS JOIN LATERAL (
        SELECT coalesce(max(e.version), 0) AS version FROM (
            SELECT version FROM events WHERE aggregate_id = expected.id
            ORDER BY version DESC LIMIT 1) AS e
    ) AS current
    WHERE current.version <> expected.version
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'aggregate % is at version %, not %',
            conflict.id, conflict.actual, conflict.expected
            USING ERRCODE = 'CR002', DETAIL = json_build_object(
                'aggregate_id', conflict.id, 'expected', conflict.expected,
                'actual', conflict.actual)::text;
    END IF;

    RETURN QUERY
    WITH inserted AS (
        INSERT INTO events (event_id, aggregate_id, aggregate_type, version, event_type,
                            occurred_at, data, metadata)
        SELECT * FROM unnest(event_ids, aggregate_ids, aggregate_types, versions, event_types,
                             occurred_ats, datas, metadatas)
        RETURNING event_id, aggregate_id, "position", recorded_at
    ), queued AS (
        INSERT INTO outbox ("position", aggregate_id)
        SELECT i."position", i.aggregate_id FROM inserted AS i
    ), first_new AS (
        SELECT i.aggregate_id, min(i."position") AS before FROM inserted AS i
        GROUP BY i.aggregate_id
    )
    SELECT i.event_id, i."position", i.recorded_at, false FROM inserted AS i
    UNION ALL
    SELECT NULL::uuid, o."position", NULL::timestamptz, true
    FROM first_new AS f
    CROSS JOIN LATERAL (
        SELECT ob."position" FROM outbox AS ob
        WHERE ob.aggregate_id = f.aggregate_id AND ob."position" < f.before
    ) AS o;

    INSERT INTO snapshots (aggregate_id, aggregate_type, version, state)
    SELECT * FROM unnest(snapshot_aggregate_ids, snapshot_types, snapshot_versions,
                         snapshot_states)
    ON CONFLICT (aggregate_id) DO UPDATE
        SET version = excluded.version, state = excluded.state, taken_at = now()
        WHERE snapshots.version < excluded.version;
END
$$;
