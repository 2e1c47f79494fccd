-- The outbox knows each event's aggregate, so that publishing a batch can find that batch's
-- aggregates' earlier unpublished events with an index range scan, however large the outbox
-- grew during a broker outage (joining through `events` made the planner scan that table).
ALTER TABLE outbox ADD COLUMN aggregate_id uuid;
UPDATE outbox o SET aggregate_id = e.aggregate_id FROM events e WHERE e.position = o.position;
ALTER TABLE outbox ALTER COLUMN aggregate_id SET NOT NULL;
CREATE INDEX outbox_by_aggregate ON outbox (aggregate_id, position);
