"""A request body is read by orjson when it reads it as `json.loads` does (integers of any
size kept exact, NaN read, nesting counted): the fast path never changes what a body says."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.errors import BadRecord
from monitor.ingest.records import MAX_DEPTH, load_document, nested_deeper_than

TRICKY_TEXT = st.sampled_from(['"', "\\", "[", "]", "{", "}", '\\"', "\\\\", "\ud800", "\x00"])
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | TRICKY_TEXT
)
DOCUMENTS = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=4) | TRICKY_TEXT, inner, max_size=4)
    ),
    max_leaves=60,
)


def _as_json_loads_reads_it(raw: bytes | str):
    """What a body meant before the fast path: `json.loads`, then the nesting walk."""
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        return "refused"
    return "refused" if nested_deeper_than(document, MAX_DEPTH) else ("read", repr(document))


def _as_load_document_reads_it(raw: bytes | str):
    try:
        return "read", repr(load_document(raw))
    except BadRecord:
        return "refused"


@settings(max_examples=400, deadline=None)
@given(DOCUMENTS, st.booleans())
def test_a_body_reads_the_same_as_json_loads_reads_it(document, ascii_only):
    text = json.dumps(document, ensure_ascii=ascii_only)
    for raw in (text.encode("utf-8", "surrogatepass"), text):
        assert _as_load_document_reads_it(raw) == _as_json_loads_reads_it(raw)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["[", "{", "string"]), min_size=1, max_size=MAX_DEPTH + 8))
def test_nesting_is_counted_the_same_through_arrays_objects_and_brackets_in_strings(levels):
    opening = {"[": "[", "{": '{"a": ', "string": '["s[{\\"", '}
    closing = {"[": "]", "{": "}", "string": "]"}
    raw = ("".join(opening[level] for level in levels) + "1").encode()
    raw += "".join(closing[level] for level in reversed(levels)).encode()
    assert _as_load_document_reads_it(raw) == _as_json_loads_reads_it(raw)


def test_an_integer_beyond_64_bits_stays_an_exact_integer():
    assert load_document(b'{"x": 18446744073709551616}') == {"x": 2**64}
    assert load_document(b"[-9223372036854775809]") == [-(2**63) - 1]
