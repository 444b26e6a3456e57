"""The model registry as monitor/ needs it: artifacts (skops, trusted types) and reference sets."""
