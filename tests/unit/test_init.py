"""`jivocrm init` writes a project that validates, never overwrites silently, and is the example
project under bundles/."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from jivocrm.cli import cli
from jivocrm.engine.envvars import references
from jivocrm.engine.project import load_project
from jivocrm.scaffold import crm_types

ROOT = Path(__file__).resolve().parents[2]


def init(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["init", *args])
    return result.exit_code, result.output


def files_of(root: Path) -> dict[str, str]:
    """Every file a user commits: no local state, no secrets."""
    return {
        str(p.relative_to(root)): p.read_text("utf-8")
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".jivocrm" not in p.parts and p.name != ".env"
    }


@pytest.mark.parametrize("crms", [[c] for c in crm_types()] + [crm_types()])
@pytest.mark.parametrize("emulate", [False, True])
def test_the_project_validates_without_any_variable_set(
    tmp_path: Path, crms: list[str], emulate: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("JIVO_SHOP_TOKEN", "AMO_TOKEN", "B24_WEBHOOK_URL", "RETAILCRM_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    args = [str(tmp_path)] + [a for crm in crms for a in ("--crm", crm)]
    code, _ = init(*args, *(["--emulate"] if emulate else []))
    assert code == 0
    project, problems = load_project(tmp_path)
    assert problems == []
    assert project is not None
    assert len(project.bundles) == 7 * len(crms)
    names = {"amocrm": "amo", "bitrix24": "b24", "retailcrm": "retail"}
    assert set(project.connections) == {names[c] for c in crms}
    assert all(c.emulate is emulate for c in project.connections.values())


def test_each_crm_gets_its_own_folder_when_both_are_chosen(tmp_path: Path) -> None:
    init(str(tmp_path), "--crm", "bitrix24", "--crm", "amocrm")
    text = (tmp_path / "jivocrm.yaml").read_text("utf-8")
    assert "bundles: [amocrm/, bitrix24/]" in text
    assert text.startswith("# yaml-language-server: $schema=.jivocrm/project.schema.json\n")
    assert (tmp_path / "amocrm" / "chat-finished-with-contacts.yaml").exists()
    assert (tmp_path / "bitrix24" / "chat-finished-with-contacts.yaml").exists()
    assert (tmp_path / ".jivocrm" / "bundle.schema.json").exists()


def test_env_example_lists_every_variable_and_gitignore_keeps_secrets_out(tmp_path: Path) -> None:
    init(str(tmp_path), "--crm", "amocrm", "--crm", "bitrix24")
    used = set(references((tmp_path / "jivocrm.yaml").read_text("utf-8")))
    listed = {
        line.split("=", 1)[0]
        for line in (tmp_path / ".env.example").read_text("utf-8").splitlines()
        if line and not line.startswith("#")
    }
    assert used == listed == {"JIVO_SHOP_TOKEN", "AMO_TOKEN", "B24_WEBHOOK_URL"}
    assert (tmp_path / ".gitignore").read_text("utf-8").splitlines()[1:] == [".jivocrm/", ".env"]


def test_bundles_use_the_emulators_pipelines_and_stages(tmp_path: Path) -> None:
    init(str(tmp_path), "--crm", "amocrm", "--crm", "bitrix24")
    amo = (tmp_path / "amocrm" / "chat-finished-with-contacts.yaml").read_text("utf-8")
    b24 = (tmp_path / "bitrix24" / "chat-finished-with-contacts.yaml").read_text("utf-8")
    assert "pipeline: Продажи" in amo
    assert "stage: Первичный контакт" in amo
    assert "pipeline: 3" in b24
    assert 'stage: "C3:NEW"' in b24


def test_existing_files_are_never_overwritten_without_force(tmp_path: Path) -> None:
    (tmp_path / "jivocrm.yaml").write_text("mine\n", "utf-8")
    code, output = init(str(tmp_path), "--crm", "amocrm")
    assert code == 1
    assert f"error: {tmp_path} already has jivocrm.yaml;" in output
    assert (tmp_path / "jivocrm.yaml").read_text("utf-8") == "mine\n"
    assert not (tmp_path / "bundles").exists()  # nothing at all was written

    code, _ = init(str(tmp_path), "--crm", "amocrm", "--force")
    assert code == 0
    assert (tmp_path / "jivocrm.yaml").read_text("utf-8") != "mine\n"


def test_the_example_project_is_exactly_what_init_writes(tmp_path: Path) -> None:
    every = [a for crm in crm_types() for a in ("--crm", crm)]
    code, _ = init(str(tmp_path), *every, "--emulate")
    assert code == 0
    assert files_of(ROOT / "bundles") == files_of(tmp_path), "regenerate: make example"


def test_every_example_bundle_validates() -> None:
    project, problems = load_project(ROOT / "bundles")
    assert problems == []
    assert project is not None
    assert len(project.bundles) == 7 * len(crm_types())


@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
def test_a_russian_crm_project_keeps_moscow_time(tmp_path: Path, crm: str) -> None:
    """Transcripts and dates are read by managers in Moscow, not in UTC."""
    code, _ = init(str(tmp_path), "--crm", crm, "--emulate")
    assert code == 0
    project, problems = load_project(tmp_path)
    assert project is not None, problems
    assert project.timezone == "Europe/Moscow"
