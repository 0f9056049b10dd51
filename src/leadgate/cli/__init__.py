"""Command-line adapter (Typer). Each area registers its commands in its own module."""
