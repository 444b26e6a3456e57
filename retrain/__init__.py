"""Retraining and redeployment: training sets, recipes, champion vs challenger, versions,
promotion, rollback, canary, and real-time and batch scoring."""
