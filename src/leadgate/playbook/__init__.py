"""The playbook: every scoring and qualification rule, as one versioned YAML file.

    from leadgate.playbook import load_playbook, Playbook

The loader's names are imported on first use: it brings the YAML parser, which a playbook
read back from the store does not need (`leadgate.playbook.plain`, issue 17). The model is
imported here, first: `conditions` and `segments` import each other through it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from leadgate.playbook.model import Playbook

if TYPE_CHECKING:
    from leadgate.playbook.loader import PlaybookError, load_playbook, load_playbook_file

__all__ = ["Playbook", "PlaybookError", "load_playbook", "load_playbook_file"]

_WHERE = {
    "PlaybookError": "leadgate.playbook.loader",
    "load_playbook": "leadgate.playbook.loader",
    "load_playbook_file": "leadgate.playbook.loader",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'leadgate.playbook' has no attribute {name!r}")
