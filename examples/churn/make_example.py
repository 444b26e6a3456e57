"""Writes the example's model artifact, reference data and batch scoring output.

Run from the repository root: `.venv/bin/python examples/churn/make_example.py`.
The files it writes are committed; this script says how they were made.
"""

from pathlib import Path

from monitor.demo.sample_data import CATEGORICAL, NUMERICAL, churn_frame, churn_pipeline, scored
from monitor.registry.artifacts import dump_artifact

HERE = Path(__file__).parent


def main() -> None:
    train = churn_frame(3000, seed=1)
    model = churn_pipeline().fit(train[NUMERICAL + CATEGORICAL], train["churned"])
    (HERE / "churn.skops").write_bytes(dump_artifact(model))
    scored(train, model).to_csv(HERE / "reference.csv", index=False)


if __name__ == "__main__":
    main()
