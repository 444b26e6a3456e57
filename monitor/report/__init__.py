"""Window analysis: Evidently drift tests, data quality, realized and estimated performance,
reference-side caching, and Evidently's stored report."""
