"""The CRMs the service speaks, wired in one place: each provider's adapter (anti-corruption
layer), how its inbound messages become commands, and its CRM port when one is configured.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from app.command_handler import Provider
from app.hubspot_client import HubSpotRecordReader
from app.salesforce_client import SalesforceRecordReader
from app.settings import Settings
from domain.providers import hubspot, pipedrive, salesforce

log = logging.getLogger(__name__)


def crm_providers(settings: Settings) -> dict[str, Provider]:
    salesforce_api = (SalesforceRecordReader(settings)
                      if SalesforceRecordReader.configured(settings) else None)
    if salesforce_api is None:
        log.warning("no Salesforce API configured: gap and missing-create events will be "
                    "dead-lettered until SALESFORCE_* settings are given")
    hubspot_api = (HubSpotRecordReader(settings)
                   if HubSpotRecordReader.configured(settings) else None)
    if hubspot_api is None and settings.hubspot_client_secret is not None:
        log.warning("no HubSpot API configured: creations and changes of records never seen "
                    "will be dead-lettered until HUBSPOT_ACCESS_TOKEN is given")
    return {
        "salesforce": Provider(salesforce.SalesforceAdapter(), salesforce.commands_from_envelope,
                               salesforce_api),
        "hubspot": Provider(hubspot.HubSpotAdapter(), hubspot.commands_from_event, hubspot_api),
        # Pipedrive webhooks carry the whole record: no API is needed to fill in what is missing.
        "pipedrive": Provider(pipedrive.PipedriveAdapter(), pipedrive.commands_from_webhook),
    }


async def close_crm_clients(providers: Mapping[str, Provider]) -> None:
    for provider in providers.values():
        close = getattr(provider.crm, "close", None)
        if close is not None:
            await close()
