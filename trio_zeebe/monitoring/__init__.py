"""Monitoring endpoint: /startup, /ready, /health and /metrics (Prometheus text)."""
