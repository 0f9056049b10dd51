"""The playbook: every scoring and qualification rule, as one versioned YAML file."""

from leadgate.playbook.loader import PlaybookError, load_playbook, load_playbook_file
from leadgate.playbook.model import Playbook

__all__ = ["Playbook", "PlaybookError", "load_playbook", "load_playbook_file"]
