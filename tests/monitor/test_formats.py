"""Each serving system's published log format becomes exactly the canonical records."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest

from monitor.errors import BadRecord
from monitor.ingest.kinds import (
    azureml_collector,
    kserve,
    sagemaker_capture,
    sagemaker_ground_truth,
)
from monitor.ingest.records import (
    Half,
    ModelSchema,
    ParseContext,
    validate_label,
    validate_prediction,
)

SAMPLES = Path(__file__).parent.parent / "samples"
CHURN = ModelSchema(numerical=("tenure", "charges"), categorical=("plan", "region"))


def context(**config: Any) -> ParseContext:
    return ParseContext(schema=CHURN, config=config)


def lines(relative: str) -> list[bytes]:
    return (SAMPLES / relative).read_bytes().splitlines()


def line(doc: dict) -> bytes:
    return json.dumps(doc).encode()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def predictions(kind: ModuleType, raw_lines: list[bytes], ctx: ParseContext | None = None) -> list:
    """Parse, join halves as the engine does (through JSON, as they wait in the store),
    and prove every record valid."""
    ctx = ctx or context()
    records, waiting = [], {}
    for raw in raw_lines:
        for item in kind.parse(raw, ctx):
            if isinstance(item, Half):
                waiting.setdefault(item.key, {})[item.part] = orjson.loads(
                    orjson.dumps(item.payload)
                )
            else:
                records.append(item)
    for halves in waiting.values():
        records.extend(kind.join(halves["request"], halves["response"], ctx))
    for record in records:
        validate_prediction(record, CHURN)
    return records


def record(
    request_id: str, timestamp: str, features: list, prediction: Any, probability: Any
) -> dict:
    names = ("tenure", "charges", "plan", "region")
    return {
        "request_id": request_id,
        "timestamp": timestamp,
        "features": dict(zip(names, features, strict=True)),
        "prediction": prediction,
        "probability": probability,
    }


def rejects(kind: ModuleType, raw: bytes, reason: str, ctx: ParseContext | None = None) -> None:
    with pytest.raises(BadRecord) as caught:
        predictions(kind, [raw], ctx)
    assert reason in str(caught.value)


# SageMaker data capture


def capture(inp: dict | None, out: dict | None = None, **meta: Any) -> dict:
    data = {
        name: value for name, value in (("endpointInput", inp), ("endpointOutput", out)) if value
    }
    meta = {"eventId": "e-1", "inferenceTime": "2026-01-01T00:00:00Z", **meta}
    return {"captureData": data, "eventMetadata": meta, "eventVersion": "0"}


def body(data: str, encoding: str = "CSV", content_type: str = "text/csv") -> dict:
    return {
        "observedContentType": content_type,
        "mode": "INPUT",
        "data": data,
        "encoding": encoding,
    }


def test_sagemaker_capture_sample_gives_one_record_per_row() -> None:
    assert predictions(sagemaker_capture, lines("sagemaker-capture/capture.jsonl")) == [
        record("sm-0001", "2026-01-01T00:05:12Z", [14, 70.35, "pro", "eu"], 1, 0.83),
        record(
            "9e2f6b70-3c4d-4a1b-8f2e-5d6c7b8a9f02",
            "2026-01-01T03:41:07Z",
            [52, 25.1, "basic", "us"],
            0,
            0.12,
        ),
        record("sm-0003#0", "2026-01-01T09:30:00Z", [3, 99.9, "team", "apac"], 1, 0.77),
        record("sm-0003#1", "2026-01-01T09:30:00Z", [27, 56.2, "basic", "eu"], 0, 0.21),
        record("sm-0004#0", "2026-01-01T17:12:45Z", [8, 88.4, "pro", "eu"], 1, 0.69),
        record("sm-0004#1", "2026-01-01T17:12:45Z", [61, 19.95, "basic", "apac"], 0, 0.04),
        record("sm-0005", "2026-01-02T08:00:03Z", [19, 64.5, "team", "us"], 0, 0.38),
    ]


def test_sagemaker_csv_numbers_become_numbers_only_for_numerical_features() -> None:
    raw = line(capture(body("7,12,3,10"), body("1", content_type="text/csv")))
    [only] = predictions(sagemaker_capture, [raw])
    assert only["features"] == {"tenure": 7, "charges": 12, "plan": "3", "region": "10"}


def test_sagemaker_csv_follows_the_configured_column_order() -> None:
    ctx = context(columns=["plan", "region", "tenure", "charges"])
    raw = line(capture(body("pro,eu,14,70.35"), body("1,0.83")))
    [only] = predictions(sagemaker_capture, [raw], ctx)
    assert only["features"] == {"plan": "pro", "region": "eu", "tenure": 14, "charges": 70.35}


def test_sagemaker_empty_csv_field_is_a_missing_value() -> None:
    [only] = predictions(sagemaker_capture, [line(capture(body("14,,pro,eu"), body("0")))])
    assert only["features"]["charges"] is None


def test_sagemaker_capture_of_input_only_has_no_prediction() -> None:
    [only] = predictions(sagemaker_capture, [line(capture(body("14,70.35,pro,eu")))])
    assert (only["request_id"], only["prediction"], only["probability"]) == ("e-1", None, None)


def test_sagemaker_json_output_keys_come_from_the_source_settings() -> None:
    output = json.dumps({"predictions": [{"churn": 1, "score": 0.9}]})
    raw = line(capture(body("14,70.35,pro,eu"), body(output, "JSON", "application/json")))
    ctx = context(prediction_key="churn", probability_key="score")
    [only] = predictions(sagemaker_capture, [raw], ctx)
    assert (only["prediction"], only["probability"]) == (1, 0.9)


def test_sagemaker_parallel_predictions_and_probabilities_lists() -> None:
    output = json.dumps({"predictions": [1], "probabilities": [0.85]})
    raw = line(capture(body("14,70.35,pro,eu"), body(output, "JSON", "application/json")))
    [only] = predictions(sagemaker_capture, [raw])
    assert (only["prediction"], only["probability"]) == (1, 0.85)


def test_sagemaker_base64_json_lines_and_linear_learner_rows() -> None:
    rows = '{"features": [5, 80.0, "pro", "us"]}\n{"features": [9, 20.5, "team", "eu"]}\n'
    inp = body(b64(rows), "BASE64", "application/jsonlines")
    out = body(b64('{"predictions": [0, 1]}'), "BASE64", "application/json")
    assert predictions(sagemaker_capture, [line(capture(inp, out, inferenceId="b-7"))]) == [
        record("b-7#0", "2026-01-01T00:00:00Z", [5, 80.0, "pro", "us"], 0, None),
        record("b-7#1", "2026-01-01T00:00:00Z", [9, 20.5, "team", "eu"], 1, None),
    ]


def test_sagemaker_columnar_json_inputs() -> None:
    inputs = {
        "inputs": {
            "tenure": [1, 2],
            "charges": [3.5, 4.5],
            "plan": ["a", "b"],
            "region": ["x", "y"],
        }
    }
    inp = body(json.dumps(inputs), "JSON", "application/json")
    records = predictions(sagemaker_capture, [line(capture(inp, body("1\n0\n")))])
    assert [r["features"]["plan"] for r in records] == ["a", "b"]
    assert [r["prediction"] for r in records] == [1, 0]


def test_sagemaker_nan_in_csv_is_refused_by_name() -> None:
    rejects(
        sagemaker_capture, line(capture(body("14,nan,pro,eu"), body("1"))), "features.charges: nan"
    )


GOOD_INPUT, GOOD_OUTPUT = body("14,70.35,pro,eu"), body("1,0.83")


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ({"eventMetadata": {"eventId": "e"}}, "captureData: missing"),
        ({"captureData": {"endpointInput": GOOD_INPUT}}, "eventMetadata: missing"),
        (capture(GOOD_INPUT, eventId=""), "eventMetadata.eventId: missing"),
        (capture(GOOD_INPUT, inferenceTime=None), "eventMetadata.inferenceTime: missing"),
        (capture(None, GOOD_OUTPUT), "captureData.endpointInput: missing"),
        (capture(body("14,70.35,pro,eu", "XML")), "captureData.endpointInput.encoding"),
        (capture(body("%%%", "BASE64")), "captureData.endpointInput.data: not base64"),
        (capture(body(b64("x"), "BASE64", "image/png")), "endpointInput.observedContentType"),
        (capture({"encoding": "CSV"}), "captureData.endpointInput.data: missing"),
        (capture(body("14,70.35,pro")), "endpointInput.data[0]: 3 values but 4 columns"),
        (capture(body("many,70.35,pro,eu")), "features.tenure: 'many' is not a number"),
        (capture(body("{oops", "JSON", "application/json")), "endpointInput.data: broken JSON"),
        (capture(body("1,2,a,b\n3,4,c,d"), body("1")), "endpointOutput.data: 2 input rows but 1"),
        (capture(GOOD_INPUT, body("1,0.5,7")), "endpointOutput.data[0]: expected prediction"),
        (
            capture(GOOD_INPUT, body('{"label": 1}', "JSON", "application/json")),
            "endpointOutput.data: neither 'prediction' nor 'probability'",
        ),
    ],
)
def test_sagemaker_malformed_capture_is_refused_naming_the_field(doc: dict, reason: str) -> None:
    rejects(sagemaker_capture, line(doc), reason)


# SageMaker ground truth


def labels(raw_lines: list[bytes], ctx: ParseContext | None = None) -> list[dict]:
    records = [r for raw in raw_lines for r in sagemaker_ground_truth.parse(raw, ctx or context())]
    for label in records:
        validate_label(label)
    return records


def truth(data: Any, encoding: str = "CSV", **meta: Any) -> bytes:
    doc = {"groundTruthData": {"data": data, "encoding": encoding}, "eventVersion": "0"}
    doc["eventMetadata"] = {"eventId": "e-1", **meta}
    return line(doc)


def test_sagemaker_ground_truth_sample_gives_labels_by_inference_id() -> None:
    assert labels(lines("sagemaker-ground-truth/labels.jsonl")) == [
        {"request_id": "sm-0001", "label": 1},
        {"request_id": "9e2f6b70-3c4d-4a1b-8f2e-5d6c7b8a9f02", "label": 0},
        {"request_id": "sm-0003#0", "label": 1},
        {"request_id": "sm-0003#1", "label": 0},
        {"request_id": "sm-0004#0", "label": 1},
        {"request_id": "sm-0005", "label": 0, "timestamp": "2026-01-02T08:00:03Z"},
    ]


def test_ground_truth_labels_keep_text_and_read_configured_json_keys() -> None:
    assert labels([truth("churned")]) == [{"request_id": "e-1", "label": "churned"}]
    assert labels([truth(" 0.5 ")])[0]["label"] == 0.5
    ctx = context(label_key="churned")
    assert labels([truth('{"churned": "1"}', "JSON")], ctx)[0]["label"] == 1


def test_one_csv_line_of_several_values_labels_a_capture_of_as_many_rows() -> None:
    # A target is one value: several values in one line label the capture's rows in order.
    assert labels([truth("1,0")]) == [
        {"request_id": "e-1#0", "label": 1},
        {"request_id": "e-1#1", "label": 0},
    ]
    assert [r["label"] for r in labels([truth('"stay", churn', eventId="n")])] == [
        "stay",
        "churn",
    ]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (line({"eventMetadata": {"eventId": "e"}}), "groundTruthData: missing"),
        (line({"groundTruthData": {"data": "1"}}), "eventMetadata: missing"),
        (truth("1", eventId=""), "eventMetadata.eventId: missing"),
        (truth(""), "groundTruthData.data: empty"),
        (truth(None), "groundTruthData.data: missing"),
        (truth("1,,0"), "groundTruthData.data[1]: empty"),
        (truth("1", "XML"), "groundTruthData.encoding"),
        (truth("###", "BASE64"), "groundTruthData.data: not base64"),
        (truth('{"value": 1}', "JSON"), "groundTruthData.data: no 'label' among keys (value)"),
        (truth("[1, 2]", "JSON"), "groundTruthData.data: expected a label value"),
    ],
)
def test_malformed_ground_truth_is_refused_naming_the_field(raw: bytes, reason: str) -> None:
    with pytest.raises(BadRecord) as caught:
        labels([raw])
    assert reason in str(caught.value)


# Azure ML data collector


def collected(kind: str, data: Any, correlationid: str = "c-1", **extra: Any) -> bytes:
    doc = {
        "specversion": "1.0",
        "id": "event-1",
        "type": f"azureml.inference.{kind}",
        "time": "2026-01-01T05:00:00Z",
        "data": data,
        "correlationid": correlationid,
        **extra,
    }
    return line(doc)


ROW = {"tenure": 14, "charges": 70.35, "plan": "pro", "region": "eu"}


def test_azureml_sample_inputs_and_outputs_join_by_correlation_id() -> None:
    raw = lines("azureml-collector/model_inputs.jsonl") + lines(
        "azureml-collector/model_outputs.jsonl"
    )
    assert predictions(azureml_collector, raw) == [
        record("az-0001", "2026-01-01T01:15:00Z", [33, 45.3, "basic", "eu"], 0, 0.18),
        record("az-0002#0", "2026-01-01T11:02:30Z", [2, 105.6, "team", "eu"], 1, 0.92),
        record("az-0002#1", "2026-01-01T11:02:30Z", [45, 74.0, "pro", "us"], 0, 0.27),
        record("az-row-0007", "2026-01-02T06:45:10Z", [11, 59.9, "pro", "apac"], 1, 0.58),
        record("az-row-0008", "2026-01-02T06:45:10Z", [70, 20.05, "basic", "eu"], 0, 0.03),
    ]


def test_azureml_inputs_and_outputs_lines_are_halves_keyed_by_correlation_id() -> None:
    [request] = azureml_collector.parse(collected("model_inputs", [ROW], "c-9"), context())
    [response] = azureml_collector.parse(
        collected("model_outputs", [{"prediction": 1}], "c-9"), context()
    )
    assert (request.key, request.part, response.key, response.part) == (
        "c-9",
        "request",
        "c-9",
        "response",
    )


def test_azureml_line_with_inputs_and_outputs_gives_records_at_once() -> None:
    rows = [
        {**ROW, "prediction": 1, "probability": 0.6},
        {**ROW, "prediction": 0, "probability": 0.2},
    ]
    raw = collected("model_inputs_outputs", rows, "c-2")
    assert predictions(azureml_collector, [raw]) == [
        record("c-2#0", "2026-01-01T05:00:00Z", [14, 70.35, "pro", "eu"], 1, 0.6),
        record("c-2#1", "2026-01-01T05:00:00Z", [14, 70.35, "pro", "eu"], 0, 0.2),
    ]


def test_azureml_payload_logging_request_and_response_bodies() -> None:
    request = collected(
        "request", {"data": [[3, 20.0, "basic", "us"], [4, 30.0, "team", "eu"]]}, path="/score"
    )
    response = collected("response", [1, 0])
    assert [
        (r["request_id"], r["features"]["charges"], r["prediction"])
        for r in predictions(azureml_collector, [request, response])
    ] == [("c-1#0", 20.0, 1), ("c-1#1", 30.0, 0)]


def test_azureml_split_and_columnar_layouts() -> None:
    split = {
        "input_data": {
            "columns": ["region", "plan", "charges", "tenure"],
            "data": [["eu", "pro", 1.5, 2]],
        }
    }
    columnar = {name: [value] for name, value in ROW.items()}
    expected = {"tenure": 2, "charges": 1.5, "plan": "pro", "region": "eu"}
    for data, features in ((split, expected), (columnar, ROW)):
        raw = [collected("model_inputs", data), collected("model_outputs", {"prediction": [1]})]
        [only] = predictions(azureml_collector, raw)
        assert (only["features"], only["prediction"]) == (features, 1)


@pytest.mark.parametrize(
    ("raw_lines", "reason"),
    [
        ([collected("model_inputs", [ROW], "")], "correlationid: missing"),
        ([collected("model_inputs", [ROW], time=None)], "time: missing"),
        ([collected("model_inputs", [ROW], time="yesterday")], "time: does not parse"),
        ([collected("model_inputs", None)], "data: missing"),
        ([collected("request", "https://blob/x", datainblob="true")], "datainblob"),
        ([collected("model_inputs", [[1, 2, "pro"]])], "data[0]: 3 values but 4 columns"),
        ([collected("model_inputs", [{**ROW, "charges": float("nan")}])], "features.charges: nan"),
        ([collected("model_outputs", [{"label": 1}])], "data[0]: neither 'prediction'"),
        (
            [collected("model_outputs", [{"prediction": 1, "probability": float("inf")}])],
            "probability: inf",
        ),
        (
            [
                collected("model_inputs", [ROW, ROW]),
                collected("model_outputs", [{"prediction": 1}]),
            ],
            "2 input rows but 1 outputs",
        ),
        (
            [
                collected("model_inputs", [{**ROW, "correlationid": "a"}]),
                collected("model_outputs", [{"prediction": 1, "correlationid": "b"}]),
            ],
            "ids: request and response rows carry different ids",
        ),
    ],
)
def test_azureml_malformed_events_are_refused_naming_the_field(
    raw_lines: list, reason: str
) -> None:
    with pytest.raises(BadRecord) as caught:
        predictions(azureml_collector, raw_lines)
    assert reason in str(caught.value)


# KServe and Seldon inference loggers


def event(
    kind: str, data: Any, event_id: str = "r-1", system: str = "org.kubeflow", **extra: Any
) -> bytes:
    doc = {
        "specversion": "1.0",
        "id": event_id,
        "type": f"{system}.serving.inference.{kind}",
        "source": "http://localhost:9081/",
        "time": "2026-01-01T12:00:00Z",
        "data": data,
        **extra,
    }
    return line(doc)


def test_kserve_sample_events_join_request_and_response_in_either_order() -> None:
    assert predictions(kserve, lines("kserve/events.jsonl")) == [
        record("ks-0001", "2026-01-01T02:20:00.154Z", [24, 65.2, "pro", "us"], 0, None),
        record("ks-0002#0", "2026-01-01T14:05:09.011Z", [5, 89.1, "team", "eu"], 1, 0.71),
        record("ks-0002#1", "2026-01-01T14:05:09.011Z", [38, 49.75, "basic", "apac"], 0, 0.14),
        record("ks-0003", "2026-01-02T10:48:27.500Z", [66, 22.4, "basic", "eu"], 0, 0.07),
    ]


def test_seldon_sample_events_join_by_request_id_not_event_id() -> None:
    assert predictions(kserve, lines("kserve/seldon-events.jsonl")) == [
        record("sd-0001#0", "2026-01-01T20:10:00Z", [9, 79.0, "pro", "eu"], 1, 0.64),
        record("sd-0001#1", "2026-01-01T20:10:00Z", [48, 30.5, "basic", "us"], 0, 0.09),
    ]


def test_kserve_http_echo_of_a_delivery_with_body_text() -> None:
    def echo(kind: str, payload: dict) -> bytes:
        headers = {
            "Ce-Id": "h-1",
            "Ce-Type": f"org.kubeflow.serving.inference.{kind}",
            "Ce-Time": "2026-01-01T08:00:00Z",
            "content-type": "application/json",
        }
        return line(
            {"path": "/", "method": "POST", "headers": headers, "body": json.dumps(payload)}
        )

    raw = [
        echo("request", {"instances": [[1, 2.5, "pro", "eu"]]}),
        echo("response", {"predictions": [1]}),
    ]
    assert predictions(kserve, raw) == [
        record("h-1", "2026-01-01T08:00:00Z", [1, 2.5, "pro", "eu"], 1, None)
    ]


def test_kserve_base64_data_and_a_single_v2_matrix_tensor_in_column_order() -> None:
    tensor = {
        "name": "input-0",
        "shape": [2, 4],
        "datatype": "BYTES",
        "data": [1, 2.0, "pro", "eu", 3, 4.0, "team", "us"],
    }
    request = event("request", None, data_base64=b64(json.dumps({"inputs": [tensor]})))
    output = {"name": "output-0", "shape": [2, 1], "datatype": "INT64", "data": [0, 1]}
    response = event("response", {"outputs": [output]})
    records = predictions(kserve, [request, response])
    assert [(r["request_id"], r["features"]["plan"], r["prediction"]) for r in records] == [
        ("r-1#0", "pro", 0),
        ("r-1#1", "team", 1),
    ]


def test_seldon_flat_ndarray_is_one_request_row_and_one_prediction_per_value() -> None:
    request = event("request", {"data": {"ndarray": [6, 44.0, "pro", "apac"]}}, system="io.seldon")
    response = event("response", {"data": {"ndarray": [1]}}, system="io.seldon")
    assert predictions(kserve, [request, response]) == [
        record("r-1", "2026-01-01T12:00:00Z", [6, 44.0, "pro", "apac"], 1, None)
    ]


REQUEST = {"instances": [[14, 70.35, "pro", "eu"]]}


@pytest.mark.parametrize(
    ("raw_lines", "reason"),
    [
        ([event("outlier", REQUEST)], "type: 'org.kubeflow.serving.inference.outlier' is not"),
        ([event("request", REQUEST, event_id="")], "id: missing"),
        ([event("request", None)], "data: missing"),
        ([event("request", "{not json")], "data: broken JSON"),
        ([event("request", [1, 2])], "data: expected a JSON object, got list"),
        ([event("request", {"rows": []})], "data: no instances, inputs or Seldon data"),
        ([event("request", {"instances": [[14, 70.35]]})], "data[0]: 2 values but 4 columns"),
        (
            [event("request", {"instances": [[14, float("nan"), "pro", "eu"]]})],
            "features.charges: nan",
        ),
        (
            [event("request", {"inputs": [{"name": "x", "shape": [3, 4], "data": [1, 2, 3, 4]}]})],
            "data.inputs[0].shape: [3, 4] does not hold 4 values",
        ),
        (
            [
                event(
                    "response",
                    {"outputs": [{"name": "a", "data": [1]}, {"name": "b", "data": [0]}]},
                )
            ],
            "data.outputs: no tensor named 'prediction' or 'probability'",
        ),
        ([event("response", {"answer": 1})], "data: no predictions, outputs or Seldon data"),
        (
            [event("request", REQUEST), event("response", {"predictions": [1, 0]})],
            "1 input rows but 2 outputs",
        ),
        (
            [
                event("request", REQUEST, time=None),
                event("response", {"predictions": [1]}, time=None),
            ],
            "time: missing on both request and response",
        ),
    ],
)
def test_kserve_malformed_events_are_refused_naming_the_field(raw_lines: list, reason: str) -> None:
    with pytest.raises(BadRecord) as caught:
        predictions(kserve, raw_lines)
    assert reason in str(caught.value)
