"""Data going out of leadgate in bulk: `leads.py` streams every lead as CSV, JSON Lines
or Parquet (`leadgate lead export`, `GET /leads/export`).

Example:
    >>> from leadgate.export.leads import FORMATS
    >>> FORMATS
    ('csv', 'jsonl', 'parquet')
"""
