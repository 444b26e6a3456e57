"""One settings object: every DRIFTWISE_* variable parsed in monitor/settings.py, each
documented in the README's table, a bad value refused with the variable's name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor.errors import SettingsError
from monitor.settings import current_settings, load_settings, variables

ROOT = Path(__file__).resolve().parents[1]


def _readme_table() -> set[str]:
    text = (ROOT / "README.md").read_text()
    start = text.index("| variable | default | meaning |")
    table = text[start : text.index("\n\n", start)]
    return set(re.findall(r"`(DRIFTWISE_[A-Z_]+)`", table))


def test_the_readme_documents_every_setting_and_nothing_else() -> None:
    documented = _readme_table()
    assert sorted(set(variables()) - documented) == [], "settings missing from the README"
    assert sorted(documented - set(variables())) == [], "README rows with no such setting"


def test_no_module_reads_a_driftwise_variable_on_its_own() -> None:
    ad_hoc = re.compile(r"""(environ\.get|getenv)\(\s*f?["']DRIFTWISE_""")
    offenders = [
        str(path.relative_to(ROOT))
        for package in ("monitor", "retrain", "web")
        for path in (ROOT / package).rglob("*.py")
        if path.name != "settings.py" and ad_hoc.search(path.read_text())
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DRIFTWISE_DAEMON_THREADS": "many"}, "DRIFTWISE_DAEMON_THREADS"),
        ({"DRIFTWISE_MAX_PUSH_RECORDS": "0"}, "DRIFTWISE_MAX_PUSH_RECORDS"),
        ({"DRIFTWISE_RETENTION_DAYS": "-1"}, "DRIFTWISE_RETENTION_DAYS"),
        ({"DRIFTWISE_EXECUTOR": "threads"}, "DRIFTWISE_EXECUTOR"),
        ({"DRIFTWISE_DATABASE_URL": "driftwise.db"}, "DRIFTWISE_DATABASE_URL"),
        ({"DRIFTWISE_SMTP_URL": "mail.example.com"}, "DRIFTWISE_SMTP_URL"),
        ({"DRIFTWISE_INGEST_PARSE_PROCESS": "sometimes"}, "DRIFTWISE_INGEST_PARSE_PROCESS"),
        (
            {"DRIFTWISE_TASK_TIME_LIMIT": "9000"},
            "DRIFTWISE_BROKER_VISIBILITY_TIMEOUT must be longer than DRIFTWISE_TASK_TIME_LIMIT",
        ),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(env: dict, named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings(env)


def test_blank_means_default_and_postgres_urls_get_the_psycopg_driver(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "DRIFTWISE_DATA_DIR": str(tmp_path),
            "DRIFTWISE_DAEMON_THREADS": "  ",
            "DRIFTWISE_BASE_URL": "https://driftwise.example.com/",
        }
    )
    assert settings.daemon_threads == 4
    assert settings.database_url == f"sqlite:///{tmp_path / 'driftwise.db'}"
    assert settings.base_url == "https://driftwise.example.com"
    url = load_settings({"DRIFTWISE_DATABASE_URL": "postgres://user@db/driftwise"}).database_url
    assert url == "postgresql+psycopg://user@db/driftwise"


def test_the_current_settings_follow_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("DRIFTWISE_INGEST_CHUNK_BYTES", "1024")
    assert current_settings().ingest_chunk_bytes == 1024
    monkeypatch.setenv("DRIFTWISE_INGEST_CHUNK_BYTES", "2048")
    assert current_settings().ingest_chunk_bytes == 2048


def test_a_command_refuses_a_bad_setting_before_doing_anything(monkeypatch) -> None:
    from click.testing import CliRunner

    from monitor.cli import main

    monkeypatch.setenv("DRIFTWISE_NOTIFY_EVERY_SECONDS", "often")
    result = CliRunner().invoke(main, ["status"])
    assert result.exit_code == 2
    assert "DRIFTWISE_NOTIFY_EVERY_SECONDS" in result.output
