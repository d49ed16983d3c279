"""`cm-bot resources import|list|match` against the test database, audited (issue 17)."""

from __future__ import annotations

import zipfile
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlmodel import col
from typer.testing import CliRunner, Result

from cm_bot.cli import app
from cm_bot.storage.admin import cli_actor
from cm_bot.storage.db import transaction
from cm_bot.storage.models import AuditLog, ResourceService
from tests.resources.directory import build, ident, write_csv, write_json
from tests.support.paths import DATA, ROOT

TODAY = date.today()  # the commands read the wall clock: build the directory around it


@pytest.fixture(autouse=True)
def settings(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CM_BOT_DATABASE_URL", database_url)
    monkeypatch.setenv("CM_BOT_FLOWS_DIR", str(ROOT / "conversations"))
    monkeypatch.setenv("CM_BOT_LOCALES_DIR", str(ROOT / "locales"))
    monkeypatch.setenv("CM_BOT_PROGRAM_FILE", str(ROOT / "conversations" / "program.yaml"))
    monkeypatch.delenv("CM_BOT_TELEGRAM_TOKEN", raising=False)


def cm_bot(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), prog_name="cm-bot")


def ok(*args: str) -> Result:
    result = cm_bot(*args)
    assert result.exit_code == 0, (args, result.output)
    return result


def actions(db: Engine) -> list[tuple[str, str]]:
    with transaction(db) as session:
        return [
            (a, b)
            for a, b in session.execute(
                select(col(AuditLog.actor), col(AuditLog.action)).order_by(col(AuditLog.id))
            ).all()
        ]


def test_import_list_and_match_a_directory(db: Engine, tmp_path: Path) -> None:
    tables = build(40, TODAY)
    tables["service"][2]["assured_date"] = "2020-01-01"  # stale, and a Shelter service
    out = ok("resources", "import", str(write_csv(tmp_path / "pkg", tables))).stdout
    assert "service: 40 added, 0 updated" in out
    assert "services no longer listed, now inactive: 0" in out

    listing = ok("resources", "list").stdout.splitlines()
    assert listing[0].split() == ["NAME", "STATUS", "ASSURED", "PHONE", "ID"]
    assert len(listing) == 1 + sum(1 for s in tables["service"] if s["status"] == "active")
    (stale,) = [line for line in listing if "Service 00002" in line]
    assert "2020-01-01 (possibly stale)" in stale
    everything = ok("resources", "list", "--all").stdout.splitlines()
    assert len(everything) == 41 and any(" inactive " in line for line in everything)
    housing = ok("resources", "list", "--need", "living_situation").stdout.splitlines()[1:]
    assert [line.split()[1] for line in housing] == [
        f"{i:05d}"
        for i in range(40)
        if i % 7 in (2, 3) and tables["service"][i]["status"] == "active"
    ]

    offer = ok("resources", "match", "food", "--language", "es").stdout
    lines = offer.splitlines()
    # food is terms 0 and 1 (i % 7); Spanish is i % 3 == 0; 0 is closed; then the most recent
    assert lines[0] == "1. Service 00015  [speaks es]"
    assert "   phone: 555-0015" in lines
    assert "   address: 15 Main Street, Springfield, IL 60015" in lines
    assert "   languages: en, es" in lines
    assert sum(1 for line in lines if line[:2] in ("1.", "2.", "3.")) == 3
    assert actions(db) == [
        (cli_actor(), a)
        for a in (
            "resources_import",
            "resources_list",
            "resources_list",
            "resources_list",
            "resources_match",
        )
    ]


def test_a_broken_package_prints_its_problems_and_stores_nothing(
    db: Engine, tmp_path: Path
) -> None:
    tables = build(5, TODAY)
    tables["service"][1]["status"] = "open"
    result = cm_bot("resources", "import", str(write_csv(tmp_path / "pkg", tables)))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{tmp_path / 'pkg' / 'services.csv'}:3: status: 'open' is not one of: active, "
        "inactive, defunct, temporarily closed"
    ]
    assert "nothing was imported" in result.stderr
    with transaction(db) as session:
        assert session.execute(select(ResourceService)).first() is None


def test_the_examples_import_from_csv_zip_and_json(db: Engine, tmp_path: Path) -> None:
    archive = tmp_path / "hsds.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for file in (DATA / "hsds" / "csv").iterdir():
            out.write(file, file.name)
    assert "service: 1 added" in ok("resources", "import", str(archive)).stdout
    single = ok("resources", "import", str(DATA / "hsds" / "json" / "service_full.json")).stdout
    assert "(one service)" in single and "partial import: no service was inactivated" in single
    page = ok("resources", "import", str(DATA / "hsds" / "json" / "service_list.json")).stdout
    assert "(1 of 10 pages)" in page
    listing = ok("resources", "list").stdout
    assert "Community Counselling" in listing and "2005-01-01 (possibly stale)" in listing


def test_reimport_inactivates_and_match_refuses_an_unmapped_need(
    db: Engine, tmp_path: Path
) -> None:
    tables = build(12, TODAY)
    ok("resources", "import", str(write_json(tmp_path / "all.json", tables)))
    tables["service"][6]["status"] = "defunct"  # the only Domestic Violence service
    tables["service"] = [s for s in tables["service"] if s["id"] != ident("svc", 4)]
    out = ok("resources", "import", str(write_json(tmp_path / "less.json", tables))).stdout
    assert "services no longer listed, now inactive: 1" in out
    assert "Service 00004" not in ok("resources", "list").stdout
    assert "Service 00004" in ok("resources", "list", "--all").stdout
    other = build(2, TODAY, prefix="Other", source="another-provider")
    out = ok("resources", "import", "--partial", str(write_json(tmp_path / "o.json", other)))
    assert "partial import: no service was inactivated" in out.stdout
    listing = ok("resources", "list").stdout
    assert "Other 00001" in listing and "Service 00001" in listing
    result = cm_bot("resources", "match", "education")
    assert result.exit_code == 1
    assert "need 'education' is not in the program file's needs mapping" in result.stderr
    none = ok("resources", "match", "safety").stdout  # no Domestic Violence service is active
    assert none.startswith("no active service matches safety")
