"""Source keys for the log variants are checked strictly, naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import SpecError
from tests.monitor.test_spec import apply, counts, spec_dir, write  # noqa: F401

CAPTURE = 'kind = "sagemaker-capture"\n'


@pytest.mark.parametrize(
    ("extra", "key", "message"),
    [
        ('output = "score"', "output", "must be one of prediction, probability"),
        ('output = "probability"\nthreshold = 1.5', "threshold", "between 0 and 1"),
        ("threshold = 0.5", "threshold", 'needs output = "probability"'),
        ('outputs = "no"', "outputs", "expected true or false"),
        ("classes = [0, 0]", "classes", "lists a class twice"),
        ("classes = [[1]]", "classes", "expected a list of class names"),
        ('complete_after = "soon"', "complete_after", "not a duration"),
    ],
)
def test_bad_output_and_completeness_keys_name_the_key(
    db_url: str,
    spec_dir: Path,  # noqa: F811 - the fixture
    extra: str,
    key: str,
    message: str,  # noqa: F811
) -> None:
    path = write(spec_dir, CAPTURE, CAPTURE + extra + "\n")
    with pytest.raises(SpecError) as caught:
        apply(path)
    assert caught.value.key == f"deployments[0].sources[1].{key}"
    assert message in caught.value.message
    assert counts() == (0, 0, 0, 0)


def test_good_output_keys_are_kept_in_the_source_config(db_url: str, spec_dir: Path) -> None:  # noqa: F811
    from sqlalchemy import select

    from monitor.store import session_scope
    from monitor.store.models import Source

    extra = 'output = "probability"\nthreshold = 0.4\nclasses = ["stay", "churn"]\ncomplete_after = "10m"\n'
    apply(write(spec_dir, CAPTURE, CAPTURE + extra))
    with session_scope() as session:
        config = session.scalar(select(Source.config).where(Source.kind == "sagemaker-capture"))
    assert (config["output"], config["threshold"], config["classes"]) == (
        "probability",
        0.4,
        ["stay", "churn"],
    )
    assert config["complete_after"] == "10m"
