"""Message templates for nurture steps (moved to `leadgate.playbook.templates`, so the
playbook schema can check them at load time without importing the sales adapter)."""

from leadgate.playbook.templates import TemplateProblem, check_template, render

__all__ = ["TemplateProblem", "check_template", "render"]
