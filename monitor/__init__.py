"""Driftwise monitoring core: settings, store, ingestion, reports, policy, events."""

import os

# Evidently honours DO_NOT_TRACK; Driftwise makes no connection its user did not configure.
# Set here, once, before any module (or a subprocess, which inherits it) imports Evidently.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
