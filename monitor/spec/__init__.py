"""The declarative spec file: models, deployments, sources, policies, alerts."""
