"""The program file: the shipped ones load, mistakes are reported by line, text is extracted."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cm_bot.cli import app as cli
from cm_bot.flows import FlowDefinitionError
from cm_bot.i18n.yaml_extractor import extract
from cm_bot.program import ResourceKind, load_program
from tests.support.paths import ROOT

SHIPPED = ROOT / "conversations" / "program.yaml"
UKRAINE = ROOT / "conversations" / "programs" / "ukraine.example.yaml"


def test_the_shipped_default_is_a_united_states_program_with_checked_resources() -> None:
    program = load_program(SHIPPED)
    assert program.country == "US" and not program.example
    contacts = " ".join(r.contact for r in program.resources)
    assert "911" in contacts and "988" in contacts and "1-800-799-7233" in contacts
    assert "START to 88788" in contacts
    assert {r.kind for r in program.resources} >= {
        ResourceKind.EMERGENCY,
        ResourceKind.CRISIS,
        ResourceKind.VIOLENCE,
    }


def test_the_ukrainian_example_is_marked_as_an_example() -> None:
    program = load_program(UKRAINE)
    assert program.country == "UA" and program.example
    contacts = " ".join(r.contact for r in program.resources)
    assert "112" in contacts and "7333" in contacts and "116 123" in contacts


def test_staff_hours_and_retention_are_told_in_the_readers_language() -> None:
    program = load_program(UKRAINE)
    assert program.staff_hours_text("uk").startswith("понеділок–пʼятниця, 09:00–18:00")
    assert program.retention_text("es") == "5 años"


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    path = tmp_path / "program.yaml"
    path.write_text(SHIPPED.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")
    return path


def test_a_resource_without_a_contact_is_refused_with_its_line(tmp_path: Path) -> None:
    path = _broken(tmp_path, "    contact: call or text 988 (Spanish available)\n", "")
    line = next(
        n
        for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "id: lifeline_988" in text
    )

    with pytest.raises(FlowDefinitionError) as caught:
        load_program(path)

    (problem,) = caught.value.problems
    assert (problem.path, problem.line) == (str(path), line)
    assert "contact" in problem.message

    result = CliRunner().invoke(cli, ["flows", "check", str(path)])
    assert result.exit_code == 1
    assert f"{path}:{line}: resources.1.contact" in result.output


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("country: US", "country: XX", "unknown country"),
        ("timezone: America/New_York", "timezone: Mars/Olympus", "unknown time zone"),
        ("kind: crisis", "kind: other", "at least one 'crisis' resource"),
        ("languages: [en, es]", "languages: [zz-qq]", "unknown language"),
        ('closes: "17:00"', 'closes: "08:00"', "close after they open"),
    ],
)
def test_other_mistakes_are_refused_by_line(tmp_path: Path, old: str, new: str, says: str) -> None:
    with pytest.raises(FlowDefinitionError) as caught:
        load_program(_broken(tmp_path, old, new))
    assert any(says in p.message and p.line > 1 for p in caught.value.problems)


def test_flows_check_validates_the_folder_and_its_program_file() -> None:
    result = CliRunner().invoke(cli, ["flows", "check", str(ROOT / "conversations")])
    assert result.exit_code == 0, result.output
    assert "program file OK" in result.output


def test_client_text_of_a_program_file_is_extracted_for_translators() -> None:
    with SHIPPED.open("rb") as handle:
        found = {message for _line, _f, message, _c in extract(handle, [], [], {})}
    program = load_program(SHIPPED)
    assert set(program.client_texts()) <= found
    assert "lifeline_988" not in found and "America/New_York" not in found


def test_the_crisis_resources_reach_a_spanish_and_a_ukrainian_reader(translator: object) -> None:
    from cm_bot.i18n import Translator

    assert isinstance(translator, Translator)
    program = load_program(SHIPPED)
    assert translator.gettext("es", "Emergency services") != "Emergency services"
    assert translator.gettext("uk", program.response_time) != program.response_time


def test_extractor_reads_program_files_from_a_stream() -> None:
    stream = io.BytesIO(b"name: A\nresources:\n  - name: B\n    contact: C\n")
    assert [m for _l, _f, m, _c in extract(stream, [], [], {})] == ["A", "B", "C"]


def test_a_crisis_word_the_matcher_cannot_read_is_refused_with_its_line(tmp_path: Path) -> None:
    path = _broken(tmp_path, "crisis_words: {}", 'crisis_words:\n  en: ["overdos*", "code .."]')

    with pytest.raises(FlowDefinitionError) as caught:
        load_program(path)

    (problem,) = caught.value.problems
    lines = path.read_text(encoding="utf-8").splitlines()
    assert problem.line == lines.index('  en: ["overdos*", "code .."]') + 1  # its own line
    assert "code .." in problem.message
