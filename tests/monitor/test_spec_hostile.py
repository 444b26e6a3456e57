"""Names outside the safe alphabet and source queries that could do more than read are
refused at apply, with the key path, before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import SpecError
from tests.monitor.test_spec import apply, counts, write
from tests.monitor.test_spec import spec_dir as spec_dir  # noqa: F401 - the fixture

SQL_SOURCE = """[[deployments.sources]]
kind = "sql"
url = "sqlite:///scores.db"
query = {query}
watermark = {watermark}

[[deployments.sources]]
kind = "jsonl\""""

BAD_NAMES = [
    ('name = "churn"\n', 'name = "churn/../../etc"\n', "models[0].name"),
    ('name = "churn-nightly"', 'name = "nightly <b>"', "deployments[1].name"),
    ('name = "churn-online"', f'name = "{"x" * 65}"', "deployments[0].name"),
    ('name = "churn-online"', 'name = "-churn"', "deployments[0].name"),
    ('name = "churn-online"', 'name = "chürn"', "deployments[0].name"),
    ('name = "churn-online"', 'name = "churn-online\\n"', "deployments[0].name"),
    ('kind = "jsonl"', 'kind = "jsonl"\nname = "a b"', "deployments[0].sources[0].name"),
]


@pytest.mark.parametrize(("old", "new", "key"), BAD_NAMES)
def test_a_name_outside_the_safe_alphabet_is_refused_with_its_key(
    db_url: str, spec_dir: Path, old: str, new: str, key: str
) -> None:
    path = write(spec_dir, old, new)
    with pytest.raises(SpecError) as caught:
        apply(path)
    assert caught.value.key == key
    assert "is not a valid name" in caught.value.message
    assert counts() == (0, 0, 0, 0)


def test_safe_names_of_every_shape_are_accepted(db_url: str, spec_dir: Path) -> None:
    write(spec_dir, 'name = "churn-online"', f'name = "Churn_online.v2-{"x" * 46}"')
    path = write(spec_dir, 'kind = "jsonl"', 'kind = "jsonl"\nname = "capture.main_2"')
    assert apply(path)
    assert counts()[2] == 2


BAD_QUERIES = [
    ('"SELECT * FROM scores; DELETE FROM scores"', '"seq"', "query", "one statement"),
    ('"SELECT * FROM scores) AS a; DELETE FROM scores; --"', '"seq"', "query", "one statement"),
    ("\"SELECT ';' AS s FROM scores\"", '"seq"', "query", "one statement"),
    ('"SELECT * FROM scores"', '"seq > 0 OR 1"', "watermark", "column name"),
]


@pytest.mark.parametrize(("query", "watermark", "key", "message"), BAD_QUERIES)
def test_a_sql_source_that_could_do_more_than_read_is_refused_at_apply(
    db_url: str, spec_dir: Path, query: str, watermark: str, key: str, message: str
) -> None:
    block = SQL_SOURCE.format(query=query, watermark=watermark)
    path = write(spec_dir, '[[deployments.sources]]\nkind = "jsonl"', block)
    with pytest.raises(SpecError) as caught:
        apply(path)
    assert caught.value.key == f"deployments[0].sources[0].{key}"
    assert message in caught.value.message
    assert counts() == (0, 0, 0, 0)
