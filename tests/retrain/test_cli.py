"""`driftwise retrain | jobs | versions | promote | rollback | score` end to end."""

from __future__ import annotations

import json

from click.testing import CliRunner

from monitor.cli import main
from monitor.demo.sample_data import churn_frame
from monitor.store import get_engine
from tests.retrain.support import log_traffic, make_model


def _run(*args: str):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


def test_the_commands_retrain_list_promote_roll_back_and_score(sqlite_url, tmp_path):
    engine = get_engine(sqlite_url)
    make_model(engine, {"auto_promote": False})
    log_traffic(engine, 600, shift=2.0)

    done = _run("retrain", "churn", "--key", "k1", "--wait", "--json")
    assert done.exit_code == 0, done.output
    job = json.loads(done.output)
    assert (job["status"], job["decision"]) == ("succeeded", "awaiting_promotion")
    assert job["evaluation"]["challenger_score"] > job["evaluation"]["champion_score"]
    again = json.loads(_run("retrain", "churn", "--key", "k1", "--json").output)
    assert again["id"] == job["id"]

    jobs = json.loads(_run("jobs", "churn", "--json").output)
    assert [j["id"] for j in jobs] == [job["id"]]
    assert jobs[0]["challenger_version"] == 2 and jobs[0]["champion_version"] == 1

    versions = json.loads(_run("versions", "churn", "--json").output)
    assert [(v["version"], v["status"]) for v in versions] == [(2, "candidate"), (1, "champion")]
    assert versions[0]["parent_version"] == 1 and versions[0]["holdout_rows"] == 150

    assert "promoted" in _run("promote", "churn", "2").output
    listed = _run("versions", "churn").output
    assert "v2  champion" in listed and "churn-online" in listed

    churn_frame(20).drop(columns="churned").to_csv(tmp_path / "in.csv", index=False)
    scored = _run(
        "score",
        "churn-nightly",
        "--input",
        str(tmp_path / "in.csv"),
        "--output",
        str(tmp_path / "out.csv"),
    )
    assert "20 rows scored with version 2" in scored.output

    back = _run("rollback", "churn-nightly")
    assert "from version 2 to 1" in back.output
    refused = _run("rollback", "churn-nightly")
    assert refused.exit_code == 2 and "no earlier version" in refused.output

    missing = _run(
        "score",
        "churn-nightly",
        "--input",
        str(tmp_path / "nope.csv"),
        "--output",
        str(tmp_path / "o.csv"),
    )
    assert missing.exit_code != 0
