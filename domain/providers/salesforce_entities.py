"""Salesforce objects the service understands, and their domain field names.

Adding an entity: one aggregate module in `domain/aggregates/` and one mapping here, listed in
`ENTITIES`. The read API serves it once a projection (in `projections/`) covers its aggregate type.
"""

from domain.providers.field_mapping import ADDRESS_PARTS, PERSON_NAME_PARTS, Compound, EntityMapping

COMMON = {
    "OwnerId": "owner_id",
    "CreatedDate": "created_at",
    "LastModifiedDate": "last_modified_at",
}

ACCOUNT = EntityMapping(
    entity="Account",
    aggregate_type="client",
    fields={
        **COMMON,
        "Name": "name",
        "Type": "type",
        "Industry": "industry",
        "AnnualRevenue": "annual_revenue",
        "NumberOfEmployees": "employees",
        "Phone": "phone",
        "Website": "website",
        "Description": "description",
        "AccountNumber": "account_number",
        "ParentId": "parent_external_id",
        "Status__c": "status",
    },
    compounds={
        "BillingAddress": Compound("billing_address", ADDRESS_PARTS),
        "ShippingAddress": Compound("shipping_address", ADDRESS_PARTS),
    },
)

CONTACT = EntityMapping(
    entity="Contact",
    aggregate_type="contact",
    fields={
        **COMMON,
        "Salutation": "salutation",
        "FirstName": "first_name",
        "LastName": "last_name",
        "Email": "email",
        "Phone": "phone",
        "MobilePhone": "mobile_phone",
        "Title": "title",
        "Department": "department",
        "AccountId": "client_external_id",
        "Status__c": "status",
    },
    compounds={
        "Name": Compound("", PERSON_NAME_PARTS),
        "MailingAddress": Compound("mailing_address", ADDRESS_PARTS),
    },
)

OPPORTUNITY = EntityMapping(
    entity="Opportunity",
    aggregate_type="deal",
    fields={
        **COMMON,
        "Name": "name",
        "StageName": "stage",
        "Amount": "amount",
        "CurrencyIsoCode": "currency",
        "CloseDate": "close_date",
        "Probability": "probability",
        "Type": "type",
        "LeadSource": "lead_source",
        "ForecastCategoryName": "forecast_category",
        "IsClosed": "closed",
        "IsWon": "won",
        "AccountId": "client_external_id",
        "Status__c": "status",
    },
)

ENTITIES = {mapping.entity: mapping for mapping in (ACCOUNT, CONTACT, OPPORTUNITY)}
