"""Owners named in a CRM export, matched to reps, for `leadgate lead import`.

An export names an owner as the CRM shows them: `Anna Schmidt` (HubSpot's `Contact
owner`, Salesforce's `Lead Owner`) or an address (`anna.schmidt@ourco.com`). A rep
matches by email, by name (`anna.schmidt`, `Anna Schmidt`: case, spaces, dots, dashes
and underscores aside), or by the local part of their email. Example: with a rep
`anna` whose email is `anna.schmidt@ourco.com`, `match("Anna Schmidt") == "anna"`.
An owner who matches nobody is listed in the import summary; the lead is left to
routing.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from leadgate.engine.errors import NotFound
from leadgate.ingest.validate import InputError, check_email
from leadgate.store.repository import Repository

if TYPE_CHECKING:
    from leadgate.sales.service import Sales


def _key(text: str) -> str:
    return re.sub(r"[\s._\-]+", "", text.strip().casefold())


def _address(text: str) -> str:
    """An address in the one spelling every way in gives it (check_email: `JOSE\u0301@X`
    and `josé@x` are one, `xn--bcher-kva.de` is `bücher.de`); other text case-folded."""
    try:
        return check_email(text)
    except InputError:
        return text.casefold()


class ImportOwners:
    """The `Owners` an import uses (`leadgate.ingest.leads_file.Owners`)."""

    def __init__(self, sales: Sales):
        self.sales = sales
        with sales.engine.db.read() as conn:
            reps = sales._reps(Repository(sales.engine.db, conn))
        self._by: dict[str, str] = {}
        for r in reps.values():
            if not r.active:
                continue
            if r.email:
                self._by.setdefault(_address(r.email), r.name)
                self._by.setdefault(_key(r.email.split("@")[0]), r.name)
            self._by[_key(r.name)] = r.name

    def match(self, text: str) -> str | None:
        """The rep an owner as written in an export is, or None."""
        t = text.strip()
        return self._by.get(_address(t)) or self._by.get(_key(t))

    def assign(self, email: str, rep: str, actor: str) -> bool:
        """Give the lead to `rep` (audited as a reassignment by `actor`)."""
        try:
            self.sales.assign(email, rep, "owner in the imported file", actor)
        except InputError as exc:
            if "already owned" in str(exc):
                return False
            raise
        except NotFound:
            return False
        return True
