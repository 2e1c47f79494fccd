"""The service's topics must have TOPIC_PARTITIONS partitions: a record's key picks its partition
by that count in the bridge, the command agent, the publisher and the read-model tables alike
(the tables are co-partitioned with the domain events). Topics created earlier with another
count made a worker look ready while its projections never applied an event."""

from __future__ import annotations

import asyncio

from app.command_failures import ConfigurationError
from app.faust_app import PROVIDERS
from app.settings import Settings
from projections.rebuild import bootstrap_servers, every_topic


async def mismatched_topics(settings: Settings) -> dict[str, int]:
    """The service's existing topics (inbound, domain events, dead letters, table changelogs)
    whose partition count is not TOPIC_PARTITIONS, with their counts."""
    metadata = await every_topic(bootstrap_servers(settings.broker_url))
    return {topic: len(partitions) for topic in metadata.topics()
            if _ours(topic, settings)
            and len(partitions := metadata.partitions_for_topic(topic) or ())
            != settings.topic_partitions}


def _ours(topic: str, settings: Settings) -> bool:
    return (topic in {settings.inbound_topic(p) for p in PROVIDERS}
            or topic in (settings.domain_events_topic, settings.dead_letter_topic)
            or (topic.startswith(f"{settings.app_id}-") and topic.endswith("-changelog")))


def require_topic_partitions(settings: Settings) -> None:
    mismatched = asyncio.run(mismatched_topics(settings))
    if mismatched:
        found = ", ".join(f"{topic} has {count}" for topic, count in sorted(mismatched.items()))
        raise ConfigurationError("TOPIC_PARTITIONS", f"is {settings.topic_partitions}, but {found}"
                                 " (keys would land on other partitions than the tables')")
