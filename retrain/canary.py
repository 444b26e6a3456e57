"""Canary: a share of a real-time deployment's requests served by the candidate version.

Routing is a pure function of the request id (the same CRC32 the store samples by), so a
retried request meets the same version. Once both versions have enough labeled results
since the canary began, their realized metric decides with the retrain's own test: the
candidate is promoted only when the lower bound of a bootstrap interval of its improvement
(each version resampled on its own labeled results) exceeds `min_improvement`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from monitor.events import emit
from monitor.ingest.records import sample_key
from monitor.registry.versions import promote
from monitor.store import session_scope
from monitor.store.lookup import deployment_named
from monitor.store.models import Deployment, Label, Model, ModelVersion, Prediction
from retrain.bootstrap import improvement_interval
from retrain.evaluate import (
    RESAMPLES,
    SEED,
    Scored,
    compute_metrics,
    evidence,
    improvement,
    shown_better,
)
from retrain.training import retrain_settings


def routes_to_candidate(request_id: str, share: float) -> bool:
    return share > 0 and sample_key(request_id) < share * 2**32


def start_canary(session: Session, model: Model, version: ModelVersion, share: float) -> None:
    """Send `share` of each real-time deployment's requests to `version`."""
    deployments = session.scalars(
        select(Deployment).where(Deployment.model_id == model.id, Deployment.mode == "realtime")
    )
    for deployment in deployments:
        deployment.candidate_version_id, deployment.canary_share = version.id, share
        emit(
            session,
            "deployment.canary",
            f"deployment.canary:{deployment.id}:{version.id}",
            f"{deployment.name}: {share:.0%} of requests go to version {version.version}",
            "info",
            deployment=deployment,
            retrain_job_id=version.retrain_job_id,
            data={"version": version.version, "share": share},
        )


def labeled_results(
    session: Session, deployment: Deployment, version_id: int, since: Any = None
) -> tuple[list[Any], Scored]:
    query = (
        select(Prediction.prediction, Prediction.probability, Prediction.probabilities, Label.value)
        .join(
            Label,
            (Label.deployment_id == Prediction.deployment_id)
            & (Label.request_id == Prediction.request_id),
        )
        .where(
            Prediction.deployment_id == deployment.id,
            Prediction.model_version_id == version_id,
        )
    )
    if since is not None:
        query = query.where(Prediction.timestamp >= since)
    rows = session.execute(query).all()
    truth = [orjson.loads(row.value) for row in rows]
    prediction = np.array([orjson.loads(row.prediction) for row in rows if row.prediction])
    probability = [row.probability for row in rows]
    probability = None if any(p is None for p in probability) else np.array(probability)
    return truth, Scored(prediction, probability, *_class_probabilities(rows))


def _class_probabilities(rows: list[Any]) -> tuple[np.ndarray | None, tuple]:
    """Multiclass results' logged probabilities, one column per class any row names (0 for
    a class a row leaves out); none unless every row logged them."""
    logged = [orjson.loads(row.probabilities) for row in rows if row.probabilities]
    if not rows or len(logged) < len(rows):
        return None, ()
    classes = tuple(sorted({name for entry in logged for name in entry}))
    table = np.array([[entry.get(name, 0.0) for name in classes] for entry in logged], float)
    return table, classes


def decide(session: Session, deployment: Deployment) -> str | None:
    """`promoted`, `rejected`, or None while either side has too few labeled results."""
    if deployment.candidate_version_id is None:
        return None
    model = session.get(Model, deployment.model_id)
    settings = retrain_settings(model)
    candidate = session.get(ModelVersion, deployment.candidate_version_id)
    since = session.scalar(
        select(func.min(Prediction.timestamp)).where(
            Prediction.deployment_id == deployment.id,
            Prediction.model_version_id == candidate.id,
        )
    )
    if since is None:
        return None
    sides = {
        "champion": labeled_results(session, deployment, deployment.active_version_id, since),
        "candidate": labeled_results(session, deployment, candidate.id, since),
    }
    needed = int(settings.get("canary_min_labeled") or 200)
    if any(len(truth) < needed for truth, _ in sides.values()):
        return None
    metric = settings["metric"]
    scores = {
        side: compute_metrics(model.task, truth, scored).get(metric)
        for side, (truth, scored) in sides.items()
    }
    gain = improvement(metric, scores["champion"], scores["candidate"])
    confidence = float(settings.get("confidence", 0.95))
    interval = None
    if gain is not None and confidence > 0:
        champion, challenger = (scored.side(truth) for truth, scored in sides.values())
        interval = improvement_interval(
            metric, champion, challenger, confidence, RESAMPLES, SEED, paired=False
        )
    minimum = float(settings.get("min_improvement") or 0)
    better, words = shown_better(gain, interval, minimum) if gain is not None else (False, "")
    data = {
        "metric": metric,
        **scores,
        **evidence(gain, interval, confidence, minimum),
        "reason": words or f"{metric} cannot be computed on both versions' labeled results",
        "labeled": {side: len(truth) for side, (truth, _) in sides.items()},
        "version": candidate.version,
    }
    if better:
        promote(session, candidate, reason="canary")
        outcome = "promoted"
    else:
        candidate.status = "rejected"
        deployment.candidate_version_id, deployment.canary_share = None, 0.0
        outcome = "rejected"
    emit(
        session,
        f"canary.{outcome}",
        f"canary.{outcome}:{deployment.id}:{candidate.id}",
        f"{deployment.name}: canary version {candidate.version} {outcome} on {metric} — "
        f"{data['reason']}",
        "info" if outcome == "promoted" else "warning",
        deployment=deployment,
        retrain_job_id=candidate.retrain_job_id,
        data=data,
    )
    return outcome


def decide_all(engine: Engine) -> dict[str, str]:
    """Every running canary's decision, if it can be made now."""
    outcomes = {}
    with session_scope(engine) as session:
        names = session.scalars(
            select(Deployment.name).where(Deployment.candidate_version_id.is_not(None))
        ).all()
    for name in names:
        with session_scope(engine) as session:
            deployment = deployment_named(session, name)
            outcome = decide(session, deployment)
            if outcome:
                outcomes[name] = outcome
    return outcomes
