"""A contact: a person at a client (Salesforce Contact, HubSpot contact, ...)."""

from domain.aggregates.record import CRMRecordAggregate


class ContactAggregate(CRMRecordAggregate):
    aggregate_type = "contact"
    required_on_create = ("last_name",)

    @property
    def email(self) -> str | None:
        return self.fields.get("email")
