"""A playbook with forms: the bundled one plus tests/forms/forms.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadgate.playbook.loader import bundled_playbook, load_playbook
from leadgate.playbook.model import Playbook

FORMS_YAML = (Path(__file__).parent / "forms.yaml").read_text(encoding="utf-8")


def playbook_text(forms_yaml: str = FORMS_YAML) -> str:
    """The bundled playbook's text with a `forms:` section appended."""
    return bundled_playbook()[1].rstrip() + "\n" + forms_yaml


@pytest.fixture(scope="session")
def forms_playbook() -> Playbook:
    return load_playbook(playbook_text(), "forms.yaml")
