"""CRM connectors. One folder per system; one line per CRM in ``CONNECTORS``."""

from __future__ import annotations

from jivocrm.connectors.amocrm import SPEC as AMOCRM
from jivocrm.connectors.bitrix24 import SPEC as BITRIX24
from jivocrm.connectors.retailcrm import SPEC as RETAILCRM
from jivocrm.connectors.spec import ConnectorSpec

CONNECTORS: dict[str, ConnectorSpec] = {
    "amocrm": AMOCRM,
    "bitrix24": BITRIX24,
    "retailcrm": RETAILCRM,
}

__all__ = ["CONNECTORS", "ConnectorSpec"]
