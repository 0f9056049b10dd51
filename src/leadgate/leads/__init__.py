"""A lead's state and what happens to it when events, edits and time arrive (pure core)."""

from leadgate.leads.processor import LeadProcessor
from leadgate.leads.record import LeadState, normalize_email

__all__ = ["LeadProcessor", "LeadState", "normalize_email"]
