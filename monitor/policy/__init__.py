"""Policies: which runs breach a deployment's rules, and when a breach is acted on."""

from monitor.policy.evaluate import evaluate
from monitor.policy.rules import Breach, breaches

__all__ = ["Breach", "breaches", "evaluate"]
