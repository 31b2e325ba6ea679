"""The YAML loader refuses what a configuration file has no business holding, at its position."""

from __future__ import annotations

import time

from jivocrm.engine.loader import MAX_DEPTH, load_text


def messages(text: str) -> list[str]:
    doc, problems = load_text(text, "b.yaml")
    assert doc is None
    return [p.format() for p in problems]


def test_alias_bomb_is_rejected_quickly_with_one_message_per_anchor() -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        levels.append(f"a{i}: &a{i} [{refs}]")
    start = time.perf_counter()
    found = messages("\n".join(levels) + "\n")
    elapsed = time.perf_counter() - start
    assert found[0] == (
        "b.yaml:1:1: a0: YAML anchors and aliases (&a0, *a0) are not allowed; "
        "repeat the value instead"
    )
    assert len(found) == 10
    assert elapsed < 5  # a walk of the expanded bomb would take hours


def test_explicit_tags_are_rejected() -> None:
    assert messages("a: !!python/object/apply:os.system [ls]\n") == [
        "b.yaml:1:1: a: explicit YAML tags are not allowed; write plain values"
    ]


def test_merge_keys_are_rejected() -> None:
    found = messages("base: {x: 1}\nother:\n  <<: {y: 2}\n")
    assert found == [
        "b.yaml:2:1: other: YAML merge keys (<<) are not allowed; repeat the keys instead"
    ]


def test_duplicate_keys_are_reported_at_the_second_key() -> None:
    assert messages("a: 1\nb: 2\na: 3\n") == [
        "b.yaml:3:1: YAML: duplicate key; each key may appear once in a mapping"
    ]


def test_deep_nesting_is_rejected() -> None:
    found = messages("a: " + "[" * (MAX_DEPTH + 10) + "]" * (MAX_DEPTH + 10) + "\n")
    assert any(f"nested deeper than {MAX_DEPTH} levels" in m for m in found)


def test_positions_are_one_based_and_point_at_values() -> None:
    doc, problems = load_text("x:\n  steps:\n    - id: a\n      type: b\n", "o.yaml")
    assert doc is not None
    assert not problems
    assert doc.position(("x", "steps", 0, "type")) == (4, 13)
    assert doc.position(("x", "steps", 0, "type"), at_key=True) == (4, 7)


def test_every_explicit_tag_is_rejected_wherever_it_stands() -> None:
    for text, at in [
        ("a: !!binary aGVsbG8=\n", "b.yaml:1:4: a: "),
        ("a: !!set {x, y}\n", "b.yaml:1:4: a: "),
        ("a: !!omap [{x: 1}]\n", "b.yaml:1:1: a: "),
        ("a:\n  b: !!float 1\n", "b.yaml:2:6: "),
        ("a: [1, !!timestamp 2024-05-01]\n", "b.yaml:1:8: "),
        ("a: !local thing\n", "b.yaml:1:4: a: "),
    ]:
        [found] = messages(text)
        assert found.startswith(at + "explicit YAML tags are not allowed"), (text, found)


def test_plain_dates_and_quoted_bangs_are_no_tags() -> None:
    doc, problems = load_text("a: '!!binary'\nb: 2024-05-01\n", "b.yaml")
    assert (doc is not None, problems) == (True, [])
