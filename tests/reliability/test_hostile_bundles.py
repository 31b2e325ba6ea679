"""Hostile bundles: YAML alias bombs, deep nesting, huge files, template sandbox escapes.

``jivocrm validate`` (a subprocess, as a user or CI runs it) must reject each with a
``file:line:col`` error and finish quickly: a generous bound (20 s on a shared 2-core machine)
turns a hang or a blow-up into a failure; the time taken is printed.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from jivocrm.core.errors import TemplateError
from jivocrm.engine.templates import render
from jivocrm.testing.daemon import jivocrm, sample

BOUND = 20.0
PROJECT = """\
version: 1
channels:
  shop: {widget_id: aB3dE5fGh7, token: "${JIVO_SHOP_TOKEN}"}
connections:
  amo:
    type: amocrm
    subdomain: myshop
    auth: {long_lived_token: "${AMO_TOKEN}"}
"""
HEAD = "version: 1\nname: hostile\ntrigger: {event: chat_finished}\n"


def step(name_template: str) -> str:
    return (
        HEAD + "steps:\n  - id: contact\n    type: new_contact\n    connection: amo\n"
        f'    fields:\n      name: "{name_template}"\n'
    )


def alias_bomb() -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return HEAD + "\n".join(lines) + "\nsteps: *a9\n"


def merge_bomb() -> str:
    return HEAD + "base: &b {x: 1}\nsteps:\n  - <<: *b\n    id: c\n"


def deep_flow(depth: int) -> str:
    return HEAD + "steps: " + "[" * depth + "]" * depth + "\n"


def deep_block(depth: int) -> str:
    lines = [HEAD + "steps:"]
    lines += [" " * (2 * i) + f"k{i}:" for i in range(1, depth + 1)]
    return "\n".join(lines) + " 1\n"


def huge_string() -> str:
    return step("x" * (3 * 1024 * 1024))


def many_nodes() -> str:
    return HEAD + "steps:\n" + "".join("- 1\n" for _ in range(150_000))


def python_tag() -> str:
    return HEAD + "steps: !!python/object/apply:os.system ['true']\n"


YAML_CASES = {
    "alias bomb": alias_bomb,
    "merge key": merge_bomb,
    # 50,000 levels take ~5 s of CPU (libyaml gives up, ruamel reads it all): a bug reported.
    "deep flow nesting": lambda: deep_flow(5_000),
    "deep block nesting": lambda: deep_block(500),
    "huge file": huge_string,
    "python tag": python_tag,
}
ESCAPES = [
    "''.__class__.__mro__[1].__subclasses__()",
    "cycler.__init__.__globals__.os",
    "lipsum.__globals__['os']",
    "namespace.__init__.__globals__",
    "''|attr('__class__')",
    "'{0.__class__}'.format(1)",
    "'a' * 10**9",
    "range(10**9) | list",
    "10 ** (10 ** 10)",  # Jinja's ** is left-associative: 10 ** 10 ** 10 is only 10**100
]
POSITION = re.compile(r"^bundles/hostile\.yaml:\d+:\d+: \S", re.MULTILINE)


def validate(tmp_path: Path, bundle: str) -> tuple[int, str, float]:
    (tmp_path / "bundles").mkdir(exist_ok=True)
    (tmp_path / "jivocrm.yaml").write_text(PROJECT, "utf-8")
    (tmp_path / "bundles" / "hostile.yaml").write_text(bundle, "utf-8")
    started = time.monotonic()
    done = subprocess.run(
        [*jivocrm(), "validate", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=BOUND,  # a hang fails the test
        check=False,
    )
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


@pytest.mark.parametrize("case", sorted(YAML_CASES))
def test_hostile_yaml_is_rejected_quickly(tmp_path: Path, case: str) -> None:
    code, output, seconds = validate(tmp_path, YAML_CASES[case]())
    print(f"\n{case}: exit {code} in {seconds:.2f} s: {output.splitlines()[:1]}")
    assert code == 1, output[-2000:]
    assert POSITION.search(output), output[-2000:]
    assert "Traceback" not in output


def test_a_file_of_150000_nodes_is_rejected_quickly(tmp_path: Path) -> None:
    code, output, seconds = validate(tmp_path, many_nodes())
    print(f"\n150,000 nodes: exit {code} in {seconds:.2f} s")
    assert code == 1
    assert POSITION.search(output)


def test_template_escapes_are_rejected_by_validate(tmp_path: Path) -> None:
    fields = "".join(
        f'      f{i}: "{{{{ {expr} }}}}"\n'.replace("\\", "") for i, expr in enumerate(ESCAPES)
    )
    bundle = step("{{ event.visitor.name }}") + fields
    code, output, seconds = validate(tmp_path, bundle)
    print(f"\ntemplate escapes: exit {code} in {seconds:.2f} s: {output.splitlines()[:2]}")
    assert code == 1
    assert len(POSITION.findall(output)) == len(ESCAPES)


@pytest.mark.parametrize("expr", ESCAPES)
def test_template_escapes_fail_when_rendered(expr: str) -> None:
    context = {"event": sample("chat_finished"), "steps": {}}
    started = time.monotonic()
    with pytest.raises(TemplateError):
        render("{{ " + expr + " }}", context)
    assert time.monotonic() - started < BOUND
