"""Prefect flows: one per stage plus the pipeline, and the `webtext` CLI. Orchestration only."""
