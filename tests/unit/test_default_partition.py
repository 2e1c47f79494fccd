"""The partition the service computes for a key (cached) is the one Kafka's default partitioner
gives it: the bridge's inbound records and the published domain events land where a plain
producer (or another worker) would put them."""

from __future__ import annotations

import random

from aiokafka.partitioner import DefaultPartitioner

from app.batch_send import partition_for


def test_the_cached_partition_is_the_default_partitioners():
    rng = random.Random(7)
    keys = ["001Hs00003FqYbKIAV", "", "é-ü", *(f"{rng.getrandbits(64):x}" for _ in range(500))]
    default = DefaultPartitioner()
    for partitions in (1, 4, 7, 12):
        every = list(range(partitions))
        for key in keys:
            assert partition_for(key, partitions) == default(key.encode(), every, every)
