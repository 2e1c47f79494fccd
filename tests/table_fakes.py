"""A Faust table as `projections.table_writes.ChangelogWrites` uses it: a changelog topic's
name and a local store (a dict standing in for the store)."""

from __future__ import annotations


class Topic:
    def __init__(self, name: str):
        self.name = name

    def get_topic_name(self) -> str:
        return self.name


class Table:
    def __init__(self, changelog_topic: str, store: dict):
        self.changelog_topic = Topic(changelog_topic)
        self.data = store
