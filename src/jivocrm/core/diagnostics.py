"""Diagnostics: one problem at one position of one file, printed compiler style.

Each diagnostic has a stable ``code`` (``unknown-key``, ``yaml-syntax``…, listed in ``CODES``)
that ``--format json`` and ``github`` print and the docs list: it names the kind of problem in
every language, while the message is English in machine output and the reader's language in
text output. A message made with :class:`Problem` carries its code with it, so the functions
that find problems keep returning text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from jivocrm.core.i18n import N_, Text, localized

# code → what it means, for the reference (docs/reference.md). A code never changes once given.
CODES: dict[str, str] = {
    # reading the files
    "no-project-file": N_("There is no jivocrm.yaml where the command looked."),
    "unreadable-file": N_("The file cannot be read (permissions, a folder in its place)."),
    "not-utf8": N_("The file is not UTF-8 text."),
    "file-too-large": N_("The file is larger than jivocrm reads."),
    "yaml-syntax": N_("The file is not valid YAML."),
    "duplicate-key": N_("A key appears twice in one mapping."),
    "yaml-anchor": N_("YAML anchors and aliases, refused (they can multiply a file's size)."),
    "yaml-merge-key": N_("YAML merge keys (<<), refused."),
    "yaml-tag": N_("Explicit YAML tags (!!str, !!binary…), refused."),
    "key-not-text": N_("A mapping key that is not text."),
    "too-deep": N_("Values nested deeper than jivocrm reads."),
    "too-many-values": N_("More values in one file than jivocrm reads."),
    "not-a-mapping": N_("The project file or a bundle is not a mapping."),
    # the shape of the files (JSON Schema)
    "unknown-key": N_("A key the schema does not have (a typo, usually)."),
    "missing-key": N_("A required key is missing."),
    "unknown-step-type": N_("A step type jivocrm does not have."),
    "unknown-value": N_("A value outside the allowed list."),
    "wrong-value": N_("A value other than the one allowed."),
    "wrong-type": N_("A value of the wrong type (text where a number belongs…)."),
    "invalid-value": N_("A value that fits none of the forms allowed there."),
    "wrong-form": N_("Text that does not have the form required (a pattern)."),
    "empty-list": N_("A list that must not be empty."),
    "schema": N_("Another schema rule."),
    # the project file
    "secret-literal": N_("A secret written in the file instead of a ${VARIABLE} reference."),
    "unknown-timezone": N_("A timezone that is not an IANA name."),
    "insecure-url": N_("An address that would send a secret without https."),
    "insecure-password": N_("An e-mail password that would travel without TLS."),
    "connection-config": N_("A CRM connection's address or setting in a wrong form."),
    # bundles against the project and each other
    "duplicate-bundle-name": N_("Two bundles with one name."),
    "unknown-channel": N_("A trigger channel that is not in jivocrm.yaml."),
    "unknown-connection": N_("A step connection that is not in jivocrm.yaml."),
    "crm-unsupported": N_("A step type the connection's CRM cannot do."),
    "key-unsupported": N_("A step key the connection's CRM does not take."),
    "duplicate-step-id": N_("Two steps of one bundle with one id."),
    "reply-not-read": N_("A reply step under a trigger whose reply Jivo does not read."),
    # filters
    "filter-event-prefix": N_("A filter field written with `event.`."),
    "filter-value-unexpected": N_("A value given to an operator that takes none."),
    "filter-value-missing": N_("An operator without the value it needs."),
    "filter-value-not-list": N_("An operator that needs a list, given one value."),
    "bad-regex": N_("A regular expression that does not compile."),
    # templates
    "unknown-event-field": N_("A field the trigger's event does not have."),
    "template-syntax": N_("A Jinja2 template that does not parse."),
    "template-refused": N_("A template doing what the sandbox refuses."),
    "when-not-template": N_("A `when:` that is text, not a template."),
    "step-not-earlier": N_("A template reading a step that runs later, or none."),
    "step-own-output": N_("A step reading its own outputs."),
    "unknown-step-output": N_("A template reading an output the step does not have."),
    "lane-reads-step": N_("A lane reading a step (it is computed before any runs)."),
    "missing-at-run-time": N_("A template reading what may be missing, unprotected."),
    # CRM names against the metadata snapshot
    "snapshot-missing": N_("The metadata snapshot named in jivocrm.yaml does not exist yet."),
    "unknown-user": N_("A CRM user the snapshot does not have."),
    "unknown-pipeline": N_("A pipeline the snapshot does not have."),
    "unknown-stage": N_("A stage the pipeline does not have."),
    "unknown-custom-field": N_("A custom field the snapshot does not have."),
    "unknown-option": N_("A value that is not an option of a list field."),
}


class Problem(Text):
    """A diagnostic's message with its code: ``Problem("unknown-key", "unknown key '{key}'",
    key=k)``. Equal to the English sentence everywhere a ``str`` is used."""

    code: str

    def __new__(cls, code: str, template: str, /, **values: Any) -> Problem:
        text = str.__new__(cls, template.format(**values) if values else template)
        text.template, text.values, text.code = template, values, code
        return text

    def __reduce__(self) -> Any:
        # copy/pickle (dataclasses.asdict deep-copies) build it again from its parts.
        return (_message, (self.code, self.template, self.values))


def _message(code: str, template: str, values: dict[str, Any]) -> Problem:
    return Problem(code, template, **values)


@dataclass(frozen=True, order=True)
class Diagnostic:
    """A problem found in a project file. ``line`` and ``column`` are 1-based (0 = unknown)."""

    file: str
    line: int
    column: int
    path: str
    message: str
    severity: str = "error"
    # The id of the step the path points into (``steps[1]`` → ``contact``), for people.
    step: str = ""
    # What kind of problem it is (``CODES``); a :class:`Problem` brings its own.
    code: str = ""

    def __post_init__(self) -> None:
        carried = getattr(self.message, "code", None)
        if carried:
            object.__setattr__(self, "code", carried)

    @property
    def shown_path(self) -> str:
        """The path as people read it: ``steps[1] (contact).type``."""
        if self.step and self.path.startswith("steps["):
            end = self.path.index("]") + 1
            return f"{self.path[:end]} ({self.step}){self.path[end:]}"
        return self.path

    def format(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}:{self.column or 1}"
        prefix = f"{self.shown_path}: " if self.path else ""
        return f"{where}: {prefix}{localized(self.message)}"

    def github(self) -> str:
        # GitHub Actions workflow command; its parameters must escape %, \r, \n, ':' and ','.
        def esc(value: str, prop: bool = False) -> str:
            value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            if prop:
                value = value.replace(":", "%3A").replace(",", "%2C")
            return value

        text = f"{self.shown_path}: {self.message}" if self.path else self.message
        title = f",title={esc(self.code, True)}" if self.code else ""
        return (
            f"::{self.severity} file={esc(self.file, True)},line={self.line or 1},"
            f"col={self.column or 1}{title}::{esc(text)}"
        )


def render(diagnostics: Iterable[Diagnostic], fmt: str) -> str:
    items = sorted(diagnostics)
    if fmt == "json":
        return json.dumps([asdict(d) for d in items], ensure_ascii=False, indent=2)
    if fmt == "github":
        return "\n".join(d.github() for d in items)
    return "\n".join(d.format() for d in items)


STEP_PATH = re.compile(r"^steps\[(\d+)\]")


def name_steps(
    diagnostics: Iterable[Diagnostic], steps: Mapping[str, list[Any]]
) -> list[Diagnostic]:
    """``diagnostics`` with the step id filled in where a path points into a step of a bundle
    (``steps``: file → that bundle's raw ``steps`` list)."""
    out = []
    for d in diagnostics:
        match = STEP_PATH.match(d.path)
        raw = steps.get(d.file)
        if match and raw is not None and not d.step:
            index = int(match.group(1))
            item = raw[index] if isinstance(raw, list) and index < len(raw) else None
            step_id = item.get("id") if isinstance(item, Mapping) else None
            if isinstance(step_id, str) and step_id:
                d = replace(d, step=step_id)
        out.append(d)
    return out


def json_path(parts: Iterable[str | int]) -> str:
    """``["steps", 2, "connection"]`` → ``steps[2].connection``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
