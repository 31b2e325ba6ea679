"""Where a connection's newest OAuth token pair lives.

OAuth refresh tokens of the CRMs are single-use: once exchanged, every other holder of the old
one is locked out. So the newest pair is persisted before it is used, and refreshes run under the
store's lock after re-reading what the store holds. ``FileTokenStore`` (a 0600 file per connection)
locks within one process; the PostgreSQL store provides one that locks across daemon instances.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol


class TokenStore(Protocol):
    async def load(self, name: str) -> dict[str, Any] | None: ...

    async def save(self, name: str, tokens: dict[str, Any]) -> None: ...

    def lock(self, name: str) -> AbstractAsyncContextManager[None]: ...


class _ProcessLocks:
    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    @contextlib.asynccontextmanager
    async def lock(self, name: str) -> AsyncIterator[None]:
        async with self._locks.setdefault(name, asyncio.Lock()):
            yield


class FileTokenStore(_ProcessLocks):
    """``<directory>/<connection>.json``, mode 0600 from creation, replaced atomically."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory

    def path(self, name: str) -> Path:
        return self.directory / f"{name}.json"

    async def load(self, name: str) -> dict[str, Any] | None:
        return await asyncio.to_thread(self._load, self.path(name))

    async def save(self, name: str, tokens: dict[str, Any]) -> None:
        await asyncio.to_thread(self._save, self.path(name), tokens)

    @staticmethod
    def _load(path: Path) -> dict[str, Any] | None:
        try:
            data = json.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            return None
        return data if isinstance(data, dict) else None

    @staticmethod
    def _save(path: Path, tokens: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_suffix(".tmp")
        # Created 0600 from the start: a chmod after writing would leave a window.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(tokens, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)


class MemoryTokenStore(_ProcessLocks):
    """Tokens in memory: for tests and one-shot commands."""

    def __init__(self) -> None:
        super().__init__()
        self.saved: dict[str, dict[str, Any]] = {}
        self.saves = 0

    async def load(self, name: str) -> dict[str, Any] | None:
        found = self.saved.get(name)
        return dict(found) if found else None

    async def save(self, name: str, tokens: dict[str, Any]) -> None:
        self.saves += 1
        self.saved[name] = dict(tokens)
