"""The metadata snapshot: a stable, sorted file that a refresh changes line by line."""

from __future__ import annotations

from pathlib import Path

from jivocrm.connectors.base import CrmUser, CustomField, Metadata, Pipeline, Stage
from jivocrm.engine.snapshot import dump, from_metadata, read, write, write_connection

METADATA = Metadata(
    pipelines=(
        Pipeline("7700002", "Опт", (Stage("61000020", "Новая заявка"),)),
        Pipeline(
            "7700001",
            "Продажи",
            (Stage("61000011", "Первичный контакт"), Stage("142", "Успешно", "won")),
            is_main=True,
        ),
    ),
    users=(CrmUser("10", "Мария"), CrmUser("9", "Ольга Петрова", "o.petrova@shop-example.ru")),
    custom_fields=(
        CustomField("264950", "Источник", "deal", type="select", enums=(("447201", "Сайт «1»"),)),
        CustomField("264915", "Должность", "contact", code="POSITION", type="text"),
    ),
)


def test_records_are_sorted_by_id_and_stages_keep_the_crms_order() -> None:
    text = dump({"amo": from_metadata("amocrm", METADATA)})
    body = text.split("version: 1\n", 1)[1]
    assert body == (
        "connections:\n"
        '  "amo":\n'
        '    type: "amocrm"\n'
        "    pipelines:\n"
        '      - id: "7700001"\n'
        '        name: "Продажи"\n'
        "        stages:\n"
        '          - {id: "61000011", name: "Первичный контакт", kind: "open"}\n'
        '          - {id: "142", name: "Успешно", kind: "won"}\n'
        '      - id: "7700002"\n'
        '        name: "Опт"\n'
        "        stages:\n"
        '          - {id: "61000020", name: "Новая заявка", kind: "open"}\n'
        "    users:\n"
        '      - {id: "9", name: "Ольга Петрова", email: "o.petrova@shop-example.ru"}\n'
        '      - {id: "10", name: "Мария", email: null}\n'
        "    fields:\n"
        "      contact:\n"
        '        - {id: "264915", name: "Должность", code: "POSITION", type: "text"}\n'
        "      deal:\n"
        '        - {id: "264950", name: "Источник", code: null, type: "select", '
        'options: [{id: "447201", value: "Сайт «1»"}]}\n'
    )


def test_what_is_written_reads_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "metadata.lock.yaml"
    snapshot = {"amo": from_metadata("amocrm", METADATA)}
    write(path, snapshot)
    loaded, problems = read(path)
    assert problems == []
    assert loaded is not None
    assert dump(loaded) == dump(snapshot)
    assert loaded["amo"].pipelines[0].stages[1] == Stage("142", "Успешно", "won")
    source = next(f for f in loaded["amo"].metadata().custom_fields if f.name == "Источник")
    assert source.options == (("447201", "Сайт «1»"),)
    assert source.option("сайт «1»") == "447201"


def test_a_refresh_of_one_connection_keeps_the_others(tmp_path: Path) -> None:
    path = tmp_path / "metadata.lock.yaml"
    write_connection(path, "b24", "bitrix24", Metadata(users=(CrmUser("1", "Ольга"),)))
    write_connection(path, "amo", "amocrm", METADATA)
    before = path.read_text("utf-8")
    renamed = Metadata(
        pipelines=METADATA.pipelines,
        users=(CrmUser("10", "Мария Иванова"), METADATA.users[1]),
        custom_fields=METADATA.custom_fields,
    )
    write_connection(path, "amo", "amocrm", renamed)
    after = path.read_text("utf-8")
    loaded, _ = read(path)
    assert loaded is not None
    assert set(loaded) == {"amo", "b24"}
    changed = [
        (a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b
    ]
    assert changed == [
        (
            '      - {id: "10", name: "Мария", email: null}',
            '      - {id: "10", name: "Мария Иванова", email: null}',
        )
    ]


def test_names_that_look_like_yaml_stay_text(tmp_path: Path) -> None:
    path = tmp_path / "metadata.lock.yaml"
    odd = Metadata(users=(CrmUser("1", "yes: no # {x}"), CrmUser("2", "0012")))
    write(path, {"amo": from_metadata("amocrm", odd)})
    loaded, problems = read(path)
    assert problems == []
    assert loaded is not None
    assert [u.name for u in loaded["amo"].users] == ["yes: no # {x}", "0012"]
