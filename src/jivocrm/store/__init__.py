"""Durable events, runs and the journal behind the ``Store`` protocol; ``open_store`` picks the
implementation from the project's ``store:`` URL."""

from __future__ import annotations

from pathlib import Path

from jivocrm.core.errors import StoreError
from jivocrm.store.base import Store


def store_path(url: str, root: Path) -> Path:
    """The file of a ``sqlite:///path`` URL; a relative path is relative to the project root."""
    path = Path(url[len("sqlite:///") :])
    return path if path.is_absolute() else root / path


def open_store(url: str, root: Path) -> Store:
    """The store for ``url`` (not yet opened: call ``await store.open()``)."""
    if url.startswith("sqlite:///"):
        from jivocrm.store.sqlite import SQLiteStore

        return SQLiteStore(store_path(url, root))
    if url.startswith(("postgresql://", "postgres://")):
        # The PostgreSQL implementation plugs in here (issue 7): same protocol, same contract.
        try:
            from jivocrm.store import postgres  # type: ignore[attr-defined,unused-ignore]
        except ImportError:
            raise StoreError(
                "the PostgreSQL store is not available in this version; use sqlite:///…"
            ) from None
        store: Store = postgres.PostgresStore(url)
        return store
    raise StoreError(f"unknown store URL {url!r}: use sqlite:///path or postgresql://…")


__all__ = ["Store", "StoreError", "open_store", "store_path"]
