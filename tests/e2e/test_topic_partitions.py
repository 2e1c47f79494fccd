"""A worker refuses to start on topics created with another partition count than
TOPIC_PARTITIONS: keys would land on other partitions than the read-model tables', and the
worker looked ready while its projections never applied an event."""

from __future__ import annotations

import asyncio

import pytest
from infrastructure import create_topics
from service_process import ServiceProcess

pytestmark = pytest.mark.e2e


def test_a_worker_refuses_topics_with_another_partition_count(broker_url, fresh_database):
    worker = ServiceProcess(broker_url, fresh_database, TOPIC_PARTITIONS="4")
    domain_events = worker.topics["domain_events"]
    asyncio.run(create_topics(broker_url.removeprefix("kafka://"), [domain_events], 8))

    with pytest.raises(RuntimeError) as refused:
        worker.start(timeout=60)

    assert "service exited 2" in str(refused.value)
    assert (f"configuration error: TOPIC_PARTITIONS: is 4, but {domain_events} has 8"
            in worker.log())
