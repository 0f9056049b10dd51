"""Users tests hash passwords cheaply (see tests/cheap_hashing.py)."""

from cheap_hashing import cheap_argon2

__all__ = ["cheap_argon2"]
