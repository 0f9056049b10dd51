"""What start-up builds without validating (issue 17) is what validation would make.

`lead show` opens the sales workflow and reads the playbook; each pydantic model it
validates on the way builds its validator first (milliseconds each). The default pools
and the sales sections taken from a loaded playbook are therefore built with
`model_construct`, and the condition models build their validators on first use.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from leadgate.playbook.loader import bundled_playbook, load_playbook
from leadgate.playbook.sales_sections import Pool, SalesSections
from leadgate.sales.config import DEFAULT_AE_POOL, DEFAULT_BDR_POOL, sections_of
from tests.playbook.test_sales_sections import FULL


def test_default_pools_are_what_validation_makes() -> None:
    for made, args in ((DEFAULT_BDR_POOL, ("bdrs", "bdr")), (DEFAULT_AE_POOL, ("aes", "ae"))):
        validated = Pool(name=args[0], role=args[1])
        assert made == validated
        assert made.model_dump() == validated.model_dump()
        assert made.model_fields_set == validated.model_fields_set


@pytest.mark.parametrize("which", ["bundled", "full"])
def test_sections_of_a_playbook_are_what_validation_makes(which: str) -> None:
    playbook = bundled_playbook()[0] if which == "bundled" else load_playbook(FULL)
    made = sections_of(playbook)
    keys = ("routing", "sla", "frameworks", "nurture")
    validated = SalesSections(**{k: getattr(playbook, k) for k in keys})
    assert made == validated
    assert made.model_dump() == validated.model_dump()
    assert made.model_fields_set == validated.model_fields_set
    if which == "full":
        assert made.frameworks and made.nurture.tracks  # not an empty comparison


@pytest.mark.parametrize("model", ["AllCondition", "AnyCondition", "NotCondition"])
def test_each_condition_model_validates_on_its_own_in_a_fresh_process(model: str) -> None:
    # Nothing else validated before it: its validator is built on this first use, with
    # the forward reference to `Condition` resolved then.
    data = {
        "AllCondition": {"all": [{"field": "a", "op": "eq", "value": 1}, {"not": {"any": [
            {"score": "fit", "op": "gte", "value": 3}]}}]},
        "AnyCondition": {"any": [{"all": [{"field": "a", "op": "eq", "value": 1}]}]},
        "NotCondition": {"not": {"field": "a", "op": "eq", "value": 1}},
    }[model]  # fmt: skip
    code = (
        f"from leadgate.playbook.base import {model}\n"
        f"c = {model}.model_validate({data!r})\n"
        f"print(c.model_dump(by_alias=True, exclude_defaults=True))\n"
        f"try:\n    {model}.model_validate({{'all': []}})\nexcept Exception as e:\n"
        "    print(type(e).__name__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[0] == repr(data)
    assert out[1] == "ValidationError"
