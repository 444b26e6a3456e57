"""What real endpoints really write, through `driftwise apply`, `ingest` and `status --json`:
every documented variant of the sample formats, complete files, and quarantine."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import fsspec
import pandas as pd
import pytest
from sqlalchemy import Engine, select

from monitor.store import session_scope
from monitor.store.models import Label, PendingHalf, Prediction
from tests.commands import run_cli
from tests.factories import churn_model_spec

ROOT = Path(__file__).parents[2]
SAMPLES = ROOT / "tests" / "samples"
EXAMPLE = ROOT / "examples" / "churn"
CAPTURES = SAMPLES / "sagemaker-capture" / "variants"
GROUND_TRUTH = SAMPLES / "sagemaker-ground-truth" / "variants"

MODELS = (
    churn_model_spec(EXAMPLE)
    + f"""
[[models]]
name = "tenure-only"
task = "classification"
target = "churned"
numerical = ["tenure"]
artifact = "{EXAMPLE / "churn.skops"}"
reference = "tenure-reference.csv"
"""
)


def deployment(name: str, sources: str, model: str = "churn") -> str:
    return f"""
[[deployments]]
name = "{name}"
model = "{model}"
mode = "realtime"
{sources}
"""


def source(kind: str, path: str | Path, role: str = "sources", **keys) -> str:
    lines = [f"[[deployments.{role}]]", f'kind = "{kind}"', f'path = "{path}"']
    lines += [f"{key} = {json.dumps(value)}" for key, value in keys.items()]
    return "\n".join(lines) + "\n"


def sagemaker_churn(truth: str, **score_keys) -> str:
    """The JSON Lines and XGBoost-score captures, labeled by the ground truth file `truth`."""
    return (
        source("sagemaker-capture", CAPTURES / "jsonlines.jsonl")
        + source(
            "sagemaker-capture",
            CAPTURES / "xgboost-score.jsonl",
            output="probability",
            **score_keys,
        )
        + source("sagemaker-ground-truth", GROUND_TRUTH / truth, "labels")
    )


def apply(tmp_path: Path, *deployments: str) -> None:
    reference = pd.read_csv(EXAMPLE / "reference.csv")
    reference[["tenure", "churned", "prediction", "probability"]].to_csv(
        tmp_path / "tenure-reference.csv", index=False
    )
    spec = tmp_path / "spec.toml"
    spec.write_text(MODELS + "".join(deployments))
    run_cli("apply", str(spec))


def status() -> dict:
    report = json.loads(run_cli("status", "--json"))
    return {d["name"]: d for d in report["deployments"]}


def predictions(engine: Engine, deployment_name: str) -> dict[str, dict]:
    from monitor.store.models import Deployment

    with session_scope(engine) as session:
        dep = session.scalar(select(Deployment.id).where(Deployment.name == deployment_name))
        rows = session.scalars(select(Prediction).where(Prediction.deployment_id == dep)).all()
        return {
            row.request_id: {
                "features": json.loads(row.features),
                "prediction": None if row.prediction is None else json.loads(row.prediction),
                "probability": row.probability,
                "probabilities": json.loads(row.probabilities) if row.probabilities else None,
            }
            for row in rows
        }


def labels(engine: Engine) -> dict[str, object]:
    with session_scope(engine) as session:
        return {row.request_id: json.loads(row.value) for row in session.scalars(select(Label))}


def test_sagemaker_variants_scalars_json_lines_scores_and_multi_row_ground_truth(
    engine: Engine, tmp_path: Path
) -> None:
    apply(
        tmp_path,
        deployment(
            "tf-serving",
            source("sagemaker-capture", CAPTURES / "scalar-instances.jsonl"),
            "tenure-only",
        ),
        deployment("sm-churn", sagemaker_churn("multi-row.jsonl", threshold=0.5)),
    )
    run_cli("ingest")
    tf = predictions(engine, "tf-serving")
    assert {key: row["features"]["tenure"] for key, row in tf.items()} == {
        "tf-0001#0": 1.0,
        "tf-0001#1": 2.0,
        "tf-0001#2": 5.0,
        "tf-0002": 24.0,
    }
    assert [tf[f"tf-0001#{i}"]["prediction"] for i in range(3)] == [1, 1, 0]
    sm = predictions(engine, "sm-churn")
    assert sorted(sm) == [
        *(f"jl-000{n}#{i}" for n in (1, 2) for i in range(3)),
        "xg-0001",
        "xg-0002",
    ]
    assert sm["jl-0001#1"]["features"] == {
        "tenure": 37,
        "charges": 22.0,
        "plan": "basic",
        "region": "us",
    }
    assert (sm["jl-0002#0"]["prediction"], sm["jl-0002#0"]["probability"]) == (1, 0.81)
    assert (sm["xg-0001"]["prediction"], sm["xg-0001"]["probability"]) == (0, 0.0178)
    assert (sm["xg-0002"]["prediction"], sm["xg-0002"]["probability"]) == (1, 0.9213)
    assert labels(engine) == {
        "jl-0001#0": 1,
        "jl-0001#1": 0,
        "jl-0001#2": 1,
        "jl-0002#0": 0,
        "jl-0002#1": 0,
        "jl-0002#2": 1,
    }
    report = status()
    assert all(d["quarantined"] == 0 for d in report.values())
    sources = {s["kind"] + ":" + s["role"]: s for s in report["sm-churn"]["sources"]}
    assert sources["sagemaker-ground-truth:labels"]["inserted"] == 6


def test_ground_truth_as_one_csv_line_of_several_values_labels_the_capture_rows(
    engine: Engine, tmp_path: Path
) -> None:
    apply(tmp_path, deployment("sm-lists", sagemaker_churn("csv-list.jsonl")))
    run_cli("ingest")
    # "1,0,1" (here in BASE64) labels the three rows of jl-0001; a single value labels a
    # capture of one row; a list for a capture not read yet is kept for its rows.
    assert labels(engine) == {
        "jl-0001#0": 1,
        "jl-0001#1": 0,
        "jl-0001#2": 1,
        "xg-0002": 1,
        "later-0001#0": 0,
        "later-0001#1": 1,
    }
    # As many values as the capture's rows, or the line is quarantined saying so.
    sources = {s["kind"] + ":" + s["role"]: s for s in status()["sm-lists"]["sources"]}
    truth_source = sources["sagemaker-ground-truth:labels"]
    assert (truth_source["inserted"], truth_source["quarantined"]) == (6, 2)
    assert {top["reason"] for top in truth_source["top_reasons"]} == {
        "labels: 4 values for request 'jl-0002', whose capture has 3 rows: give one label per"
        " row of the capture",
        "labels: 2 values for request 'xg-0001', whose capture has 1 row: give one label per"
        " row of the capture",
    }


def test_a_file_without_final_newline_is_read_once_complete(engine: Engine, tmp_path: Path) -> None:
    local = tmp_path / "gt"
    local.mkdir()
    sample = GROUND_TRUTH / "no-final-newline.jsonl"
    assert not sample.read_bytes().endswith(b"\n")
    shutil.copy(sample, local / "labels.jsonl")
    remote = fsspec.filesystem("memory")
    remote.pipe("/gt-remote/labels.jsonl", sample.read_bytes().replace(b"xg-0001", b"xg-0002"))
    apply(
        tmp_path,
        deployment(
            "gt",
            source("sagemaker-ground-truth", local / "*.jsonl", "labels", complete_after="1h")
            + source("sagemaker-ground-truth", "memory://gt-remote/*.jsonl", "labels"),
        ),
    )
    run_cli("ingest")
    # The object in an object store is complete when listed; the local file is still settling.
    assert labels(engine) == {"xg-0002": 1}
    [local_source, remote_source] = status()["gt"]["sources"]
    assert (local_source["files_waiting"], remote_source["files_waiting"]) == (1, 0)
    assert "1 file(s) waiting to be complete" in run_cli("ingest")

    settled = time.time() - 2 * 3600
    os.utime(local / "labels.jsonl", (settled, settled))
    run_cli("ingest")
    assert labels(engine) == {"xg-0001": 1, "xg-0002": 1}
    assert status()["gt"]["sources"][0]["files_waiting"] == 0
    run_cli("ingest")  # read once: nothing new, nothing duplicated
    assert status()["gt"]["sources"][0]["read"] == 1
    remote.rm("/gt-remote", recursive=True)


def test_azure_halves_join_across_two_sources_and_inputs_only_has_no_prediction(
    engine: Engine, tmp_path: Path
) -> None:
    folders = SAMPLES / "azureml-collector" / "variants" / "two-folders"
    apply(
        tmp_path,
        deployment(
            "azure-blue",
            source("azureml-collector", folders / "model_inputs" / "**" / "*.jsonl")
            + source("azureml-collector", folders / "model_outputs" / "**" / "*.jsonl"),
        ),
        deployment(
            "azure-inputs",
            source(
                "azureml-collector",
                SAMPLES / "azureml-collector" / "variants" / "inputs-only" / "*.jsonl",
                outputs=False,
            ),
        ),
    )
    run_cli("ingest")
    blue = predictions(engine, "azure-blue")
    assert {key: (row["prediction"], row["probability"]) for key, row in blue.items()} == {
        "az-101": (1, 0.72),
        "az-102": (0, 0.11),
    }
    with session_scope(engine) as session:
        assert session.scalars(select(PendingHalf)).all() == []
    report = status()["azure-blue"]
    # The request stored in a separate blob is quarantined, and its response follows it.
    assert report["quarantined"] == 2
    inputs, outputs = report["sources"]
    assert "datainblob" in inputs["top_reasons"][0]["reason"]
    assert outputs["top_reasons"][0]["reason"].startswith("its request was quarantined: data:")
    assert (inputs["halves_waiting"], outputs["halves_waiting"]) == (0, 0)

    only = predictions(engine, "azure-inputs")
    assert sorted(only) == ["in-201#0", "in-201#1", "in-202"]
    assert all(row["prediction"] is None for row in only.values())
    assert status()["azure-inputs"]["quarantined"] == 0


def test_class_probabilities_map_to_the_model_classes_and_a_bad_response_takes_its_request(
    engine: Engine, tmp_path: Path
) -> None:
    apply(
        tmp_path,
        deployment(
            "kserve-probabilities",
            source("kserve", SAMPLES / "kserve" / "variants" / "class-probabilities.jsonl"),
        ),
    )
    run_cli("ingest")
    rows = predictions(engine, "kserve-probabilities")
    assert {key: (r["prediction"], r["probability"]) for key, r in rows.items()} == {
        "kp-0001#0": (1, 0.7),
        "kp-0001#1": (0, 0.1),
        "sp-0001": (0, 0.2),
    }
    assert rows["kp-0001#0"]["probabilities"] == {"0": 0.3, "1": 0.7}
    [only] = status()["kserve-probabilities"]["sources"]
    assert (only["quarantined"], only["halves_waiting"]) == (2, 0)
    reasons = {top["reason"] for top in only["top_reasons"]}
    assert "probabilities: 3 values but 2 classes (0, 1)" in reasons
    assert "its response was quarantined: probabilities: 3 values but 2 classes (0, 1)" in reasons


def test_label_files_without_time_are_cast_to_the_target_type_and_a_glob_may_match_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    apply(
        tmp_path,
        deployment(
            "batch-labels",
            source("jsonl", SAMPLES / "jsonl" / "predictions.jsonl")
            + source("csv", SAMPLES / "csv" / "variants" / "labels-no-time.csv", "labels")
            + source(
                "parquet", SAMPLES / "parquet" / "variants" / "labels-as-text.parquet", "labels"
            )
            + source("csv", tmp_path / "not-yet" / "*.csv", "labels"),
        ),
    )
    output = run_cli("ingest")
    assert f"no files yet: {tmp_path / 'not-yet' / '*.csv'}" in output
    assert labels(engine) == {"rt-0000": 1, "rt-0002": 0, "rt-0004": 1, "rt-0001": 0, "rt-0003": 1}
    with session_scope(engine) as session:
        assert {row.timestamp for row in session.scalars(select(Label))} == {None}
    sources = {s["kind"]: s for s in status()["batch-labels"]["sources"] if s["role"] == "labels"}
    assert sources["parquet"]["top_reasons"] == [
        {"reason": "label: 'maybe' is not an integer like the model's classes (0, 1)", "count": 1}
    ]
    assert sources["csv"]["last_error"] is None


def test_quarantine_lists_by_reason_and_retry_ingests_once_after_the_spec_is_fixed(
    engine: Engine, tmp_path: Path
) -> None:
    capture = CAPTURES / "xgboost-score.jsonl"
    columns = ["tenure", "charges", "plan"]  # wrong: the region is missing
    apply(tmp_path, deployment("xg", source("sagemaker-capture", capture, columns=columns)))
    run_cli("ingest")
    listed = json.loads(run_cli("quarantine", "--deployment", "xg", "--json"))["groups"]
    assert [(g["count"], g["source"]) for g in listed] == [(2, f"sagemaker-capture:{capture}")]
    assert listed[0]["reason"] == (
        "captureData.endpointInput.data[0]: 4 values but 3 columns (tenure, charges, plan)"
    )
    assert listed[0]["examples"][0]["location"] == f"{capture}:1"
    assert "2 ×" in run_cli("quarantine")

    apply(
        tmp_path,
        deployment("xg", source("sagemaker-capture", capture, output="probability")),
    )
    retried = json.loads(run_cli("quarantine", "retry", "--deployment", "xg", "--json"))
    assert [(r["retried"], r["inserted"], r["quarantined"]) for r in retried] == [(2, 2, 0)]
    assert sorted(predictions(engine, "xg")) == ["xg-0001", "xg-0002"]
    assert json.loads(run_cli("quarantine", "--json"))["groups"] == []
    again = json.loads(run_cli("quarantine", "retry", "--json"))
    assert sum(r["retried"] for r in again) == 0
    [only] = status()["xg"]["sources"]
    assert (only["inserted"], only["quarantined"]) == (2, 0)


def test_halves_waiting_longer_than_the_bound_are_a_warning_naming_the_source(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = SAMPLES / "azureml-collector" / "variants" / "two-folders" / "model_inputs"
    apply(tmp_path, deployment("azure-half", source("azureml-collector", inputs / "**/*.jsonl")))
    run_cli("ingest")
    assert status()["azure-half"]["warnings"] == []
    monkeypatch.setenv("DRIFTWISE_HALF_WAIT_SECONDS", "1")
    time.sleep(1.1)
    [warning] = status()["azure-half"]["warnings"]
    name = f"azureml-collector:{inputs / '**/*.jsonl'}"
    assert warning == f"source {name}: 2 half(s) waiting longer than 1s for their partner"
    assert f"warning: {warning}" in run_cli("status")
    assert status()["azure-half"]["sources"][0]["halves_waiting"] == 2
