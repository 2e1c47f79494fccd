-- The event store: one row per domain event, ordered per aggregate by version and globally by
-- position. unique (aggregate_id, version) is the optimistic concurrency check.
CREATE TABLE events (
    position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        uuid        NOT NULL UNIQUE,
    aggregate_id    uuid        NOT NULL,
    aggregate_type  text        NOT NULL,
    version         integer     NOT NULL CHECK (version > 0),
    event_type      text        NOT NULL,
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    data            jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    UNIQUE (aggregate_id, version)
);

-- Idempotency: a source event (provider event id + record id) is processed once, decided in the
-- same transaction as the append.
CREATE TABLE processed_source_events (
    source_event_id text        PRIMARY KEY,
    aggregate_id    uuid,
    processed_at    timestamptz NOT NULL DEFAULT now()
);

-- Transactional outbox: positions committed but not yet confirmed on the domain-events topic.
CREATE TABLE outbox (
    position    bigint      PRIMARY KEY REFERENCES events (position),
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE snapshots (
    aggregate_id    uuid        PRIMARY KEY,
    aggregate_type  text        NOT NULL,
    version         integer     NOT NULL,
    state           jsonb       NOT NULL,
    taken_at        timestamptz NOT NULL DEFAULT now()
);

-- Identity map: one aggregate per (provider, entity, external id), race-safe by primary key.
CREATE TABLE identities (
    provider        text NOT NULL,
    entity          text NOT NULL,
    external_id     text NOT NULL,
    aggregate_id    uuid NOT NULL UNIQUE,
    PRIMARY KEY (provider, entity, external_id)
);
