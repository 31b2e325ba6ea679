"""jivocrm: Jivo chat events into CRM records, driven by YAML bundles kept in git."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
