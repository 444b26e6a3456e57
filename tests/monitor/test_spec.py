"""The spec file: applied idempotently, refused precisely, before anything is written."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from monitor.cli import main
from monitor.demo.sample_data import CATEGORICAL, NUMERICAL, churn_frame, churn_pipeline
from monitor.errors import SpecError
from monitor.registry.artifacts import dump_artifact
from monitor.spec.apply import apply_spec, load_files
from monitor.spec.parse import load_spec
from monitor.store import get_engine, session_scope
from monitor.store.models import Deployment, Model, ModelVersion, Source

EXAMPLE = Path(__file__).parents[2] / "examples" / "churn"


@pytest.fixture
def spec_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "spec"
    folder.mkdir()
    for name in ("churn.skops", "reference.csv"):
        shutil.copy(EXAMPLE / name, folder / name)
    text = (
        (EXAMPLE / "spec.toml")
        .read_text()
        .replace("../../tests/samples", str(Path(__file__).parents[1] / "samples"))
    )
    (folder / "spec.toml").write_text(text)
    return folder


def apply(path: Path) -> list[str]:
    spec = load_spec(path)
    loaded = load_files(spec)
    with session_scope() as session:
        return apply_spec(session, spec, loaded)


def counts() -> tuple[int, int, int, int]:
    with session_scope() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(table))
            for table in (Model, ModelVersion, Deployment, Source)
        )


def test_applying_the_example_twice_changes_nothing_the_second_time(
    db_url: str, spec_dir: Path
) -> None:
    first = apply(spec_dir / "spec.toml")
    assert "model churn: version 1 registered" in " ".join(first)
    assert counts() == (1, 1, 2, 9)
    assert apply(spec_dir / "spec.toml") == ["no changes"]
    assert counts() == (1, 1, 2, 9)


def test_a_changed_artifact_registers_a_new_version_and_activates_it(
    db_url: str, spec_dir: Path
) -> None:
    apply(spec_dir / "spec.toml")
    train = churn_frame(500, seed=5)
    model = churn_pipeline().fit(train[NUMERICAL + CATEGORICAL], train["churned"])
    (spec_dir / "churn.skops").write_bytes(dump_artifact(model))
    lines = apply(spec_dir / "spec.toml")
    assert "model churn: version 2 registered" in " ".join(lines)
    with session_scope() as session:
        versions = {v.version: v.status for v in session.scalars(select(ModelVersion))}
        active = {
            d.name: session.get(ModelVersion, d.active_version_id).version
            for d in session.scalars(select(Deployment))
        }
    assert versions == {1: "archived", 2: "champion"}
    assert active == {"churn-online": 2, "churn-nightly": 2}


def test_a_removed_source_is_disabled_and_keeps_its_cursor(db_url: str, spec_dir: Path) -> None:
    apply(spec_dir / "spec.toml")
    path = spec_dir / "spec.toml"
    text = path.read_text()
    start = text.index('[[deployments.sources]]\nkind = "parquet"')
    end = text.index("[[deployments.labels]]", start)
    path.write_text(text[:start] + text[end:])
    lines = apply(path)
    assert any("disabled" in line for line in lines)
    with session_scope() as session:
        parquet = session.scalar(select(Source).where(Source.kind == "parquet"))
    assert parquet.enabled is False


def write(spec_dir: Path, old: str, new: str) -> Path:
    path = spec_dir / "spec.toml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    return path


BAD_SPECS = [
    (
        'task = "classification"',
        'task = "classification"\ncolour = "blue"',
        "models[0].colour",
        "unknown key",
    ),
    ('target = "churned"\n', "", "models[0].target", "missing"),
    ("min_rows = 20", 'min_rows = "twenty"', "deployments[0].min_rows", "expected an integer"),
    (
        'model = "churn"\nmode = "realtime"',
        'model = "churm"\nmode = "realtime"',
        "deployments[0].model",
        "unknown model 'churm'",
    ),
    (
        'artifact = "churn.skops"',
        'artifact = "missing.skops"',
        "models[0].artifact",
        "file not found",
    ),
    (
        'numerical = ["tenure", "charges"]',
        'numerical = ["tenure", "charges", "age"]',
        "models[0].reference",
        "missing column age",
    ),
    ('window = "1d"', 'window = "daily"', "deployments[0].window", "not a duration"),
    (
        "drift_share = 0.5\nfeatures",
        "drift_share = 5\nfeatures",
        "deployments[0].policy.drift_share",
        "between 0 and 1",
    ),
    (
        "features = { tenure = 0.2 }",
        "features = { age = 0.2 }",
        "deployments[0].policy.features.age",
        "not a feature",
    ),
    (
        'kind = "jsonl"',
        'kind = "syslog"',
        "deployments[0].sources[0].kind",
        "unknown kind 'syslog'",
    ),
    (
        'actions = ["alert", "retrain"]',
        'actions = ["page"]',
        "deployments[0].policy.actions",
        "unknown action",
    ),
    ('to = ["ml-team@example.com"]', 'to = ["ml-team"]', "alerts[0].to", "not an email address"),
]


@pytest.mark.parametrize(("old", "new", "key", "message"), BAD_SPECS)
def test_a_bad_spec_names_file_key_and_problem_and_writes_nothing(
    db_url: str, spec_dir: Path, old: str, new: str, key: str, message: str
) -> None:
    path = write(spec_dir, old, new)
    with pytest.raises(SpecError) as caught:
        apply(path)
    assert caught.value.file == str(path)
    assert caught.value.key == key
    assert message in caught.value.message
    assert counts() == (0, 0, 0, 0)


def test_a_plain_pickle_artifact_is_refused_and_never_loaded(db_url: str, spec_dir: Path) -> None:
    marker = spec_dir / "pwned"
    (spec_dir / "churn.skops").write_bytes(pickle.dumps(Exploit(str(marker))))
    with pytest.raises(SpecError, match="not a skops file"):
        apply(spec_dir / "spec.toml")
    assert not marker.exists()
    assert counts() == (0, 0, 0, 0)


def test_an_artifact_with_untrusted_types_is_refused_naming_them(
    db_url: str, spec_dir: Path
) -> None:
    import skops.io

    (spec_dir / "churn.skops").write_bytes(skops.io.dumps({"model": Path("x")}))
    with pytest.raises(SpecError, match="untrusted types: pathlib"):
        apply(spec_dir / "spec.toml")


def test_toml_syntax_errors_name_the_file(db_url: str, spec_dir: Path) -> None:
    path = write(spec_dir, 'name = "churn"', 'name = "churn')
    with pytest.raises(SpecError, match="spec.toml: \\(syntax\\)"):
        load_spec(path)


def test_the_apply_command_exits_non_zero_with_the_message(db_url: str, spec_dir: Path) -> None:
    path = write(spec_dir, "min_rows = 20", 'min_rows = "twenty"')
    result = CliRunner().invoke(main, ["apply", str(path)])
    assert result.exit_code == 2
    assert "deployments[0].min_rows: expected an integer" in result.output
    ok = CliRunner().invoke(main, ["apply", str(EXAMPLE / "spec.toml")])
    assert ok.exit_code == 0, ok.output
    assert get_engine(db_url) is not None


class Exploit:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_a_changed_artifact_tells_the_webhooks_that_the_deployments_switched(
    db_url: str, spec_dir: Path
) -> None:
    from tests.monitor.notify_support import Receiver

    with Receiver() as receiver:
        hook = (
            f'\n[[webhooks]]\nurl = "{receiver.url}"\nsecret = "whsec_c2VjcmV0"\n'
            'events = ["deployment.updated", "model.promoted"]\n'
        )
        path = spec_dir / "spec.toml"
        path.write_text(path.read_text() + hook)
        runner = CliRunner()
        assert runner.invoke(main, ["apply", str(path)]).exit_code == 0
        assert runner.invoke(main, ["notify"]).exit_code == 0
        receiver.deliveries.clear()
        train = churn_frame(500, seed=5)
        model = churn_pipeline().fit(train[NUMERICAL + CATEGORICAL], train["churned"])
        (spec_dir / "churn.skops").write_bytes(dump_artifact(model))

        applied = runner.invoke(main, ["apply", str(path)])
        assert applied.exit_code == 0, applied.output
        sent = runner.invoke(main, ["notify"])
        assert sent.exit_code == 0, sent.output

    bodies = [delivery.json for delivery in receiver.deliveries]
    updated = {
        b["data"]["deployment"]: b["data"] for b in bodies if b["type"] == "deployment.updated"
    }
    assert set(updated) == {"churn-online", "churn-nightly"}
    for data in updated.values():
        assert (data["version"], data["previous_version"], data["reason"]) == (2, 1, "spec")
    promoted = [b["data"] for b in bodies if b["type"] == "model.promoted"]
    assert [(data["model"], data["version"]) for data in promoted] == [("churn", 2)]
    assert all(d.headers["webhook-signature"].startswith("v1,") for d in receiver.deliveries)
