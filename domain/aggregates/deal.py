"""A deal: a sales opportunity with a stage and an amount (Salesforce Opportunity, ...)."""

from domain.aggregates.record import CRMRecordAggregate


class DealAggregate(CRMRecordAggregate):
    aggregate_type = "deal"
    required_on_create = ("name",)

    @property
    def stage(self) -> str | None:
        return self.fields.get("stage")

    @property
    def amount(self) -> float | None:
        return self.fields.get("amount")
