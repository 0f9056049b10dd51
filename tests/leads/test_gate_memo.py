"""The MQL rule's fit part, decided once per fit value (`LeadProcessor._gate_by_fit`).

One processor scores many leads, as the engine's does, so verdicts kept for one lead's
fit answer for the next; every move and card must be what a processor that runs the
condition for every lead gives. Rules whose fit part reads a field keep no such memo.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from leadgate.leads import LeadProcessor, LeadState
from leadgate.playbook.loader import load_playbook
from leadgate.scoring import Event

DAY = 86400.0
T0 = 1_700_000_000.0

PLAYBOOK = """\
name: t
fit:
  rules:
    - {{name: senior, if: {{field: job_title, op: eq, value: VP}}, points: 20}}
    - {{name: size, if: {{field: company_size, op: gt, value: 100}}, points: 15.5}}
    - {{name: free, if: {{field: email_domain, op: in, value: [gmail.com]}}, points: -10}}
engagement:
  half_life_days: 30
  rules:
    - {{event: webinar_attended, points: 20}}
    - {{event: unsubscribe, points: -20}}
stages:
  mql:
    when: {when}
    hand_raisers: [demo_request]
  recycle: {{cooldown_days: 30, mql_exit_engagement: 10}}
"""

WHENS = [
    # The fit part alone, in several shapes; then rules whose fit part reads a field.
    "{all: [{score: fit, op: gte, value: 20}, {score: engagement, op: gte, value: 15}]}",
    "{all: [{any: [{score: fit, op: gt, value: 30}, {score: fit, op: lt, value: 0}]},"
    " {score: engagement, op: gte, value: 15}]}",
    "{all: [{not: {score: fit, op: between, value: [5, 25]}},"
    " {score: engagement, op: gte, value: 15}]}",
    "{all: [{score: fit, op: gte, value: 15}, {field: country, op: eq, value: DE},"
    " {score: engagement, op: gte, value: 15}]}",
    "{all: [{any: [{score: fit, op: gte, value: 35}, {field: country, op: eq, value: DE}]},"
    " {score: engagement, op: gte, value: 15}]}",
]

ATTRS = st.fixed_dictionaries(
    {},
    optional={
        "job_title": st.sampled_from(["VP", "Intern"]),
        "company_size": st.sampled_from([50, 500]),
        "country": st.sampled_from(["DE", "US"]),
    },
)
LEADS = st.lists(
    st.tuples(
        ATTRS,
        st.sampled_from(["ann@acme.com", "bob@gmail.com"]),
        st.lists(
            st.tuples(
                st.sampled_from(["webinar_attended", "unsubscribe", "demo_request", "x"]),
                st.sampled_from([0.0, 0.5, 3.0, 40.0]),
            ),
            max_size=6,
        ),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(WHENS), LEADS)
def test_verdicts_kept_per_fit_change_no_move(when: str, leads: list) -> None:  # type: ignore[type-arg]
    pb = load_playbook(PLAYBOOK.format(when=when))
    fast = LeadProcessor(pb, 1)  # shared by every lead, as the engine's is
    reads_fields = "field:" in when.split("engagement")[0]
    assert (fast._gate_by_fit is None) is reads_fields
    for n, (attrs, email, stream) in enumerate(leads):
        slow = LeadProcessor(pb, 1)
        slow._gate_by_fit = None
        a = LeadState(email, dict(attrs), T0)
        b = LeadState(email, dict(attrs), T0)
        day = 0.0
        for i, (type_, gap) in enumerate(stream):
            day += gap
            batch = [Event(f"e{n}-{i}", type_, T0 + day * DAY, {})]
            now = T0 + day * DAY
            assert fast.apply_events(a, batch, now) == slow.apply_events(b, batch, now)
        assert a.card == b.card and a.stage == b.stage and a.next_due_at == b.next_due_at
        # Attributes learnt later change the fit: the verdict follows it.
        assert fast.update_attributes(a, {"job_title": "VP"}, T0 + 50 * DAY) == (
            slow.update_attributes(b, {"job_title": "VP"}, T0 + 50 * DAY)
        )
        assert a.card == b.card and a.stage == b.stage
