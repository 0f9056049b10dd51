"""leadgate: self-hosted lead qualification engine."""

__version__ = "0.1.0"
