"""The variants real endpoints write, parsed into exactly the canonical records."""

from __future__ import annotations

import json

import pytest

from monitor.errors import BadHalf, BadRecord
from monitor.ingest.kinds import (
    azureml_collector,
    kserve,
    sagemaker_capture,
    sagemaker_ground_truth,
)
from monitor.ingest.labels import cast_label
from monitor.ingest.records import ModelSchema, ParseContext, validate_prediction
from tests.monitor.test_formats import (
    SAMPLES,
    body,
    capture,
    collected,
    context,
    event,
    labels,
    line,
    predictions,
    truth,
)

TENURE = ModelSchema(numerical=("tenure",), categorical=())


def test_scalar_instances_are_one_row_each_for_a_model_of_one_feature() -> None:
    ctx = ParseContext(schema=TENURE)
    raw = (SAMPLES / "sagemaker-capture/variants/scalar-instances.jsonl").read_bytes()
    records = [r for doc in raw.splitlines() for r in sagemaker_capture.parse(doc, ctx)]
    assert [(r["request_id"], r["features"], r["prediction"]) for r in records] == [
        ("tf-0001#0", {"tenure": 1.0}, 1),
        ("tf-0001#1", {"tenure": 2.0}, 1),
        ("tf-0001#2", {"tenure": 5.0}, 0),
        ("tf-0002", {"tenure": 24.0}, 0),
    ]
    for record in records:
        validate_prediction(record, TENURE)


def test_a_flat_list_is_still_one_row_for_a_model_of_several_features() -> None:
    inp = body(json.dumps({"instances": [14, 70.35, "pro", "eu"]}), "JSON", "application/json")
    [only] = predictions(sagemaker_capture, [line(capture(inp, body("1")))])
    assert only["features"]["plan"] == "pro"


def test_json_lines_payloads_encoded_as_json_give_one_row_per_line() -> None:
    records = predictions(
        sagemaker_capture,
        (SAMPLES / "sagemaker-capture/variants/jsonlines.jsonl").read_bytes().splitlines(),
    )
    assert [r["request_id"] for r in records] == [
        f"jl-000{n}#{i}" for n in (1, 2) for i in range(3)
    ]
    assert [r["probability"] for r in records[:3]] == [0.81, 0.07, 0.33]


def test_multi_row_ground_truth_labels_rows_in_order() -> None:
    raw = (SAMPLES / "sagemaker-ground-truth/variants/multi-row.jsonl").read_bytes().splitlines()
    assert [(r["request_id"], r["label"]) for r in labels(raw)] == [
        ("jl-0001#0", 1),
        ("jl-0001#1", 0),
        ("jl-0001#2", 1),
        ("jl-0002#0", 0),
        ("jl-0002#1", 0),
        ("jl-0002#2", 1),
    ]
    listed = truth(json.dumps([{"label": "a"}, {"label": "b"}]), "JSON", eventId="m")
    assert [r["request_id"] for r in labels([listed])] == ["m#0", "m#1"]
    with pytest.raises(BadRecord, match=r"groundTruthData.data\[1\]: expected one label"):
        labels([truth("1\n0,1")])


def test_a_lone_score_is_the_probability_and_the_threshold_decides() -> None:
    ctx = context(output="probability", threshold=0.3)
    raw = [line(capture(body("14,70.35,pro,eu"), body(score))) for score in ("0.0178", "0.31")]
    records = predictions(sagemaker_capture, raw, ctx)
    assert [(r["prediction"], r["probability"]) for r in records] == [(0, 0.0178), (1, 0.31)]
    named = context(output="probability", classes=["stay", "churn"])
    [only] = predictions(sagemaker_capture, [raw[1]], named)
    assert only["prediction"] == "stay"
    with pytest.raises(BadRecord, match="output: 1.7 is not a probability between 0 and 1"):
        predictions(sagemaker_capture, [line(capture(body("1,2,a,b"), body("1.7")))], ctx)


def test_class_probability_vectors_take_the_arg_max_class_with_every_probability() -> None:
    ctx = context(classes=["low", "mid", "high"])
    request = event("request", {"instances": [[1, 2.0, "a", "b"]]})
    response = event("response", {"predictions": [[0.1, 0.7, 0.2]]})
    [only] = predictions(kserve, [request, response], ctx)
    assert (only["prediction"], only["probability"]) == ("mid", 0.7)
    assert only["probabilities"] == {"low": 0.1, "mid": 0.7, "high": 0.2}
    tensor = {"name": "output-0", "shape": [1, 3], "datatype": "FP32", "data": [0.2, 0.2, 0.6]}
    [v2] = predictions(kserve, [request, event("response", {"outputs": [tensor]})], ctx)
    assert v2["prediction"] == "high"


def test_seldon_class_names_label_the_probabilities_without_a_class_list() -> None:
    request = event(
        "request",
        {"data": {"names": ["tenure", "charges", "plan", "region"], "ndarray": [[1, 2, "a", "b"]]}},
    )
    response = event(
        "response", {"data": {"names": ["t:0", "t:1", "t:2"], "ndarray": [[0.1, 0.2, 0.7]]}}
    )
    [only] = predictions(kserve, [request, response])
    assert (only["prediction"], only["probabilities"]) == (
        "t:2",
        {"t:0": 0.1, "t:1": 0.2, "t:2": 0.7},
    )


def test_a_half_that_cannot_be_read_names_its_key_so_its_partner_follows() -> None:
    with pytest.raises(BadHalf) as caught:
        kserve.parse(event("response", {"predictions": "oops"}), context())
    assert (caught.value.key, caught.value.part) == ("r-1", "response")
    with pytest.raises(BadHalf) as blob:
        azureml_collector.parse(collected("model_inputs", None, datainblob="true"), context())
    assert blob.value.part == "request" and "datainblob" in str(blob.value)


def test_inputs_only_sources_give_records_without_prediction_at_once() -> None:
    ctx = context(outputs=False)
    rows = [{"tenure": 1, "charges": 2.0, "plan": "a", "region": "b"}]
    [only] = azureml_collector.parse(collected("model_inputs", rows), ctx)
    assert (only["request_id"], only["prediction"]) == ("c-1", None)
    with pytest.raises(BadRecord, match="outputs = false"):
        azureml_collector.parse(collected("model_outputs", [{"prediction": 1}]), ctx)
    [request] = kserve.parse(event("request", {"instances": [[1, 2.0, "a", "b"]]}), ctx)
    assert request["prediction"] is None
    both = line(capture(body("14,70.35,pro,eu"), body("1,0.8")))
    assert predictions(sagemaker_capture, [both], ctx)[0]["prediction"] is None


@pytest.mark.parametrize(
    ("value", "config", "expected"),
    [
        ("1", {"model_classes": [0, 1]}, 1),
        (1.0, {"model_classes": [0, 1]}, 1),
        (1, {"model_classes": ["0", "1"]}, "1"),
        ("12.5", {"task": "regression"}, 12.5),
        ("yes", {}, "yes"),
    ],
)
def test_labels_are_cast_to_the_target_type(value, config, expected) -> None:
    assert cast_label({"request_id": "r", "label": value}, config)["label"] == expected


@pytest.mark.parametrize(
    ("value", "config", "reason"),
    [
        ("maybe", {"model_classes": [0, 1]}, "label: 'maybe' is not an integer"),
        ("0.5", {"model_classes": [0, 1]}, "label: '0.5' is not an integer"),
        ("high", {"task": "regression"}, "label: 'high' is not a number"),
    ],
)
def test_labels_that_cannot_be_cast_are_refused_by_name(value, config, reason) -> None:
    with pytest.raises(BadRecord, match=reason):
        cast_label({"request_id": "r", "label": value}, config)


def test_ground_truth_parse_keeps_working_without_a_class_list() -> None:
    assert sagemaker_ground_truth.parse(truth("1"), context()) == [
        {"request_id": "e-1", "label": 1}
    ]
