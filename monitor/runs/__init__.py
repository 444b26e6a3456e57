"""Monitoring runs: due windows, claims, sampling, storing results, backfills."""
