"""A batch that keeps failing is retried, then handled one message at a time: the message that
fails for good is parked, the others are handled, and nothing escapes the agent, not even a
broker that refuses the dead letter for a while (the agent would be restarted, and Faust could
commit past what it left)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from aiokafka.errors import KafkaTimeoutError

from app import agents
from app.dead_letters import InboundMessage


def message(offset: int) -> InboundMessage:
    return InboundMessage(provider="salesforce", value=b"{}", key="001", headers={},
                          topic="crm.inbound.salesforce", partition=0, offset=offset)


class Handler:
    def __init__(self, poison: int, refusals: int):
        self.poison, self.refusals = poison, refusals
        self.handled: list[int] = []
        self.parked: list[tuple[int, str]] = []
        self.dead_letters = SimpleNamespace(send=self.send)

    async def handle(self, messages, wait_for_publication=True):
        if any(m.offset == self.poison for m in messages):
            raise ValueError("year 318857 is out of range")
        self.handled += [m.offset for m in messages]

    async def send(self, letters):
        if self.refusals:
            self.refusals -= 1
            raise KafkaTimeoutError()
        self.parked += [(letter.message.offset, letter.reason) for letter in letters]


def test_the_poison_is_parked_even_when_the_broker_first_refuses_it(monkeypatch):
    monkeypatch.setattr(agents, "MAX_BACKOFF_S", 0.01)
    handler = Handler(poison=2, refusals=2)

    asyncio.run(agents.handle_until_done(SimpleNamespace(handler=handler),
                                         [message(offset) for offset in (1, 2, 3)]))

    assert handler.handled == [1, 3]
    assert handler.parked == [(2, "ValueError: year 318857 is out of range")]
