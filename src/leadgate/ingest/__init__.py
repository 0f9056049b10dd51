"""Turning outside input (JSON, JSONL, CSV, CLI flags) into validated leads and events."""
