"""A client: a company the business sells to (Salesforce Account, HubSpot company, ...)."""

from domain.aggregates.record import CRMRecordAggregate


class ClientAggregate(CRMRecordAggregate):
    aggregate_type = "client"
    required_on_create = ("name",)

    @property
    def name(self) -> str | None:
        return self.fields.get("name")

    @property
    def industry(self) -> str | None:
        return self.fields.get("industry")

    @property
    def status(self) -> str | None:
        return self.fields.get("status")
