"""Data going out of leadgate in bulk: `leads.py` streams every lead as CSV, JSON Lines
or Parquet (`leadgate lead export`, `GET /leads/export`).

Example:
    >>> from leadgate.export import FORMATS
    >>> FORMATS
    ('csv', 'jsonl', 'parquet')
"""

# Here, not in leads.py: the CLI names them in its help, and `lead show` (whose start-up
# loads the `lead` group's help) must not load the store's table definitions.
FORMATS = ("csv", "jsonl", "parquet")
