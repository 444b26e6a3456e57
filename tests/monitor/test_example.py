"""The newcomer's path: apply the example spec, ingest every sample format, exact counts."""

from __future__ import annotations

import json
from pathlib import Path

from tests.commands import run_cli

SPEC = Path(__file__).parents[2] / "examples" / "churn" / "spec.toml"


def test_the_example_ingests_every_sample_format_with_exact_counts(db_url: str) -> None:
    run_cli("apply", str(SPEC))
    run_cli("ingest")
    status = json.loads(run_cli("status", "--json"))
    by_name = {d["name"]: d for d in status["deployments"]}
    assert (by_name["churn-online"]["predictions"], by_name["churn-online"]["labels"]) == (58, 26)
    assert (by_name["churn-nightly"]["predictions"], by_name["churn-nightly"]["labels"]) == (20, 20)
    inserted = {(s["role"], s["kind"]): s["inserted"] for s in by_name["churn-online"]["sources"]}
    assert inserted == {
        ("predictions", "jsonl"): 40,
        ("predictions", "sagemaker-capture"): 7,
        ("predictions", "azureml-collector"): 5,
        ("predictions", "kserve"): 6,
        ("labels", "jsonl"): 20,
        ("labels", "sagemaker-ground-truth"): 6,
    }
    assert all(d["quarantined"] == 0 for d in status["deployments"])
    again = json.loads(run_cli("ingest", "--json"))
    assert sum(t["inserted"] for t in again) == 0
