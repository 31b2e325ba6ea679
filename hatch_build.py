"""Compiles the message catalogues (``.po`` → ``.mo``) whenever the package is built or installed,
so the ``.mo`` files are never kept in git and never fall behind their ``.po``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from hatchling.builders.hooks.plugin.interface import BuildHookInterface


def compile_catalogues(locale_dir: Path) -> list[Path]:
    written = []
    for po in sorted(locale_dir.glob("*/LC_MESSAGES/*.po")):
        with po.open("rb") as source:
            catalog = read_po(source, locale=po.parent.parent.name)
        mo = po.with_suffix(".mo")
        with mo.open("wb") as target:
            write_mo(target, catalog, use_fuzzy=False)
        written.append(mo)
    return written


class CompileCatalogues(BuildHookInterface):  # type: ignore[type-arg]  # hatchling is untyped here
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        locale_dir = Path(self.root) / "src" / "jivocrm" / "locale"
        for mo in compile_catalogues(locale_dir):
            build_data["artifacts"].append(str(mo.relative_to(self.root)))
