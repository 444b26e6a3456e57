"""The window's features decoded column-wise (Arrow) are the frame the row-wise decoding
gives, value for value; what only the row-wise decoding types right falls back to it."""

from __future__ import annotations

import orjson
import pandas as pd
import pytest

from monitor.runs import window
from monitor.runs.window import _in_key_order, features_by_column, features_by_row, to_frame
from monitor.store.models import Model

MODEL = Model(
    name="decode",
    task="classification",
    target="label",
    prediction="prediction",
    numerical=["amount", "count"],
    categorical=["plan"],
)


def texts(rows: list[dict]) -> list[str]:
    return [orjson.dumps(row).decode() for row in rows]


ACCEPTED = {
    "floats and ints": [
        {"amount": 1.25, "count": 3, "plan": "pro"},
        {"amount": 2, "count": 4.5, "plan": "basic"},
    ],
    "missing and null numbers": [
        {"amount": None, "plan": "pro"},
        {"amount": 0.1, "count": 7, "plan": "pro"},
    ],
    "integer categories": [
        {"amount": 1e-300, "count": -0.0, "plan": 3},
        {"amount": 1.7976931348623157e308, "count": 2, "plan": 1},
    ],
    "bool categories": [
        {"amount": 0.30000000000000004, "count": 1, "plan": True},
        {"amount": 5, "count": 1, "plan": False},
    ],
    "mixed number categories": [
        {"amount": 1, "count": 1, "plan": 1},
        {"amount": 1, "count": 1, "plan": 2.5},
    ],
    "extra fields": [
        {"amount": 1, "count": 2, "plan": "a", "note": {"x": [1]}},
        {"amount": 3, "count": 4, "plan": "é"},
    ],
}
FALLBACK = {
    "text in a number": [
        {"amount": "abc", "count": 1, "plan": "a"},
        {"amount": 2, "count": 1, "plan": "b"},
    ],
    "a bool in a number": [
        {"amount": True, "count": 1, "plan": "a"},
        {"amount": 2, "count": 1, "plan": "b"},
    ],
    "a missing category": [{"amount": 1, "count": 1}, {"amount": 2, "count": 1, "plan": "b"}],
    "a null category": [
        {"amount": 1, "count": 1, "plan": None},
        {"amount": 2, "count": 1, "plan": "b"},
    ],
    "mixed categories": [
        {"amount": 1, "count": 1, "plan": 1},
        {"amount": 2, "count": 1, "plan": "b"},
    ],
}


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_column_wise_decoding_gives_the_row_wise_frame(case):
    stored = texts(ACCEPTED[case] * 700)
    by_column = features_by_column(MODEL, stored)
    by_row, warnings = features_by_row(MODEL, stored)
    assert by_column is not None and not warnings
    for name in MODEL.features:
        pd.testing.assert_series_equal(by_column[name], by_row[name], check_exact=True)
        assert [type(value) for value in by_column[name]] == [type(v) for v in by_row[name]]


@pytest.mark.parametrize("case", sorted(FALLBACK))
def test_what_only_the_rows_type_right_is_decoded_row_wise(case):
    stored = texts(FALLBACK[case] * 3)
    assert features_by_column(MODEL, stored) is None
    frame, _ = to_frame(MODEL, [(text, "1", 0.5, None, None) for text in stored])
    by_row, _ = features_by_row(MODEL, stored)
    for name in MODEL.features:
        pd.testing.assert_series_equal(
            frame[name], by_row[name], check_exact=True, check_names=False
        )


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_decoding_chunk_by_chunk_gives_the_row_wise_frame(case, monkeypatch):
    monkeypatch.setattr(window, "CHUNK_BYTES", 300)  # a few rows per chunk
    stored = texts(ACCEPTED[case] * 40)
    by_column = features_by_column(MODEL, stored)
    by_row, _ = features_by_row(MODEL, stored)
    assert by_column is not None
    for name in MODEL.features:
        pd.testing.assert_series_equal(by_column[name], by_row[name], check_exact=True)
        assert [type(value) for value in by_column[name]] == [type(v) for v in by_row[name]]


@pytest.mark.parametrize("later", ["b", 2.5])
def test_categories_typed_apart_in_two_chunks_are_decoded_row_wise(later, monkeypatch):
    monkeypatch.setattr(window, "CHUNK_BYTES", 300)
    rows = [{"amount": 1, "count": 1, "plan": 1}] * 20
    stored = texts(rows + [{"amount": 2, "count": 1, "plan": later}] * 20)
    assert features_by_column(MODEL, stored) is None
    frame, _ = to_frame(MODEL, [(text, "1", 0.5, None, None) for text in stored])
    assert frame["plan"].tolist() == [1] * 20 + [later] * 20
    by_row, _ = features_by_row(MODEL, stored)
    pd.testing.assert_series_equal(frame["plan"], by_row["plan"], check_exact=True)


def test_text_in_a_number_is_still_counted_as_missing_with_a_warning():
    stored = texts(FALLBACK["text in a number"])
    _, warnings = to_frame(MODEL, [(text, "1", 0.5, None, None) for text in stored])
    assert "amount: 1 values are not numbers; counted as missing" in warnings


def test_a_samples_records_are_kept_lowest_sample_key_first_then_lowest_id():
    records = [(7, 3, "c", "1", 0.3, None, None), (2, 9, "b", "0", 0.2, None, None)]
    records += [(2, 4, "a", "1", 0.1, "1", None), (9, 1, "d", "0", 0.4, None, None)]

    assert _in_key_order(records, 3) == [
        ("a", "b", "c"),
        ("1", "0", "1"),
        (0.1, 0.2, 0.3),
        ("1", None, None),
        (None, None, None),
    ]
    assert _in_key_order(records, 1) == [("a",), ("1",), (0.1,), ("1",), (None,)]
    assert _in_key_order([], 5) == [(), (), (), (), ()]
