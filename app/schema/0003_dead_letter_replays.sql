-- Which dead letters `crm-events dead-letter replay` re-submitted, so a second replay does not
-- send the same letter again. A letter is its place on the dead-letter topic and the time it
-- failed (a topic recreated on the embedded broker starts its offsets again); a replay that fails
-- again becomes a new letter (a new offset) and can be replayed in turn.
CREATE TABLE dead_letter_replays (
    topic text NOT NULL,
    partition integer NOT NULL,
    "offset" bigint NOT NULL,
    failed_at text NOT NULL,
    stage text NOT NULL,
    source_event_id text NOT NULL,
    replayed_to text NOT NULL,
    replayed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition, "offset", failed_at)
);
