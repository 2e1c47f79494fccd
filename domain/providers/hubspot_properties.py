"""HubSpot CRM objects the service understands, and their domain field names.

Names follow the Salesforce mappings, so a client reads the same whichever CRM it came from
(`industry`, `billing_address.city`, `client_external_id`). HubSpot has no standard status
property; a custom property named `status` plays the part of Salesforce's `Status__c`.
"""

from domain.providers.property_mapping import PropertyMapping, field, flag, instant, number, text

COMMON = {
    "hubspot_owner_id": field("owner_id", text),
    "createdate": field("created_at", instant),
    "status": field("status", text),
}
# Contacts keep their last change in `lastmodifieddate`, companies and deals in
# `hs_lastmodifieddate`; mapping only the right one keeps a null twin from clearing it.
MODIFIED = {"hs_lastmodifieddate": field("last_modified_at", instant)}


def address(prefix: str) -> dict:
    return {
        "address": field(f"{prefix}.street", text),
        "city": field(f"{prefix}.city", text),
        "state": field(f"{prefix}.state", text),
        "zip": field(f"{prefix}.postal_code", text),
        "country": field(f"{prefix}.country", text),
    }


COMPANY = PropertyMapping(
    entity="company",
    aggregate_type="client",
    readers={
        **COMMON,
        **MODIFIED,
        "name": field("name", text),
        "domain": field("domain", text),
        "website": field("website", text),
        "industry": field("industry", text),
        "type": field("type", text),
        "annualrevenue": field("annual_revenue", number),
        "numberofemployees": field("employees", number),
        "phone": field("phone", text),
        "description": field("description", text),
        **address("billing_address"),
    },
)

CONTACT = PropertyMapping(
    entity="contact",
    aggregate_type="contact",
    readers={
        **COMMON,
        "lastmodifieddate": field("last_modified_at", instant),
        "salutation": field("salutation", text),
        "firstname": field("first_name", text),
        "lastname": field("last_name", text),
        "email": field("email", text),
        "phone": field("phone", text),
        "mobilephone": field("mobile_phone", text),
        "jobtitle": field("title", text),
        "lifecyclestage": field("lifecycle_stage", text),
        "hs_lead_status": field("lead_status", text),
        "associatedcompanyid": field("client_external_id", text),
        **address("mailing_address"),
    },
)

DEAL = PropertyMapping(
    entity="deal",
    aggregate_type="deal",
    readers={
        **COMMON,
        **MODIFIED,
        "dealname": field("name", text),
        "dealstage": field("stage", text),
        "pipeline": field("pipeline", text),
        "amount": field("amount", number),
        "deal_currency_code": field("currency", text),
        "closedate": field("close_date", instant),
        "hs_deal_stage_probability": field("probability", number),
        "dealtype": field("type", text),
        "hs_is_closed": field("closed", flag),
        "hs_is_closed_won": field("won", flag),
    },
)

OBJECTS = {mapping.entity: mapping for mapping in (COMPANY, CONTACT, DEAL)}

# The CRM API's path segment for each object type (GET /crm/v3/objects/{segment}/{id}).
API_OBJECT_TYPES = {"company": "companies", "contact": "contacts", "deal": "deals"}
