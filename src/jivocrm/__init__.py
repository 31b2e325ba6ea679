"""jivocrm: Jivo chat events into amoCRM and Bitrix24, driven by YAML bundles kept in git."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
