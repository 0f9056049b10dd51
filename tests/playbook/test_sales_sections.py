"""The sales sections (routing, sla, frameworks, nurture) are part of the playbook schema:
they load, and every mistake in them is named by file, line and field."""

from __future__ import annotations

import pytest

from leadgate.playbook.loader import PlaybookError, bundled_playbook, load_playbook
from leadgate.playbook.model import Playbook
from leadgate.playbook.sales_sections import SalesSections

FULL = """\
name: sales
stages:
  mql:
    hand_raisers: [demo_request]
  sql: {framework: spiced}
routing:
  pools:
    - {name: emea, team: emea, role: bdr, strategy: round_robin}
    - {name: na, reps: [zoe, max], strategy: weighted_round_robin, weights: {zoe: 2}}
    - {name: closers, role: ae, strategy: least_loaded}
  rules:
    - {name: americas, if: {field: country, op: in, value: [US, CA]}, pool: na}
  default_pool: emea
  handoff_default_pool: closers
sla:
  business_hours: true
  calendar: {timezone: Europe/Rome, days: mon-fri, hours: "09:00-18:00", holidays: [2026-12-25]}
  escalation: {reassign: true, max_reassignments: 1}
frameworks:
  spiced:
    label: SPICED
    criteria:
      - {key: situation}
      - {key: pain, prompt: "What hurts?"}
    min_criteria_met: 2
    required: [pain]
nurture:
  templates:
    hello: {subject: "Hi {{ first_name }}", body: "Still interested?"}
  tracks:
    - name: later
      if: {field: nurture_reason, op: eq, value: not now}
      steps:
        - {wait_days: 30}
        - send: {channel: smtp, template: hello}
        - branch: {on_event: email_click, within_days: 7, goto: end}
  stop_on_events: [unsubscribe]
"""


def problems(text: str) -> list[str]:
    with pytest.raises(PlaybookError) as exc:
        load_playbook(text, "playbook.yaml")
    return [str(p) for p in exc.value.problems]


def test_a_playbook_with_all_four_sections_loads() -> None:
    pb = load_playbook(FULL, "playbook.yaml")
    assert [p.name for p in pb.routing.pools] == ["emea", "na", "closers"]
    assert pb.routing.rules[0].pool == "na" and pb.routing.default_pool == "emea"
    assert pb.sla.calendar.timezone == "Europe/Rome" and pb.sla.escalation.max_reassignments == 1
    assert pb.stages.sql.framework == "spiced"
    assert [c.key for c in pb.frameworks["spiced"].criteria] == ["situation", "pain"]
    assert pb.nurture.tracks[0].steps[1].send is not None
    assert pb.nurture.templates["hello"].subject == "Hi {{ first_name }}"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "strategy: least_loaded",
            "strategy: least_load",
            "playbook.yaml:10: routing.pools[2].strategy: unknown strategy 'least_load'",
        ),
        (
            "pool: na}",
            "pool: nah}",
            "playbook.yaml:12: routing.rules[0].pool: unknown pool 'nah' (did you mean 'na'?)",
        ),
        (
            "default_pool: emea",
            "default_pool: europe",
            "playbook.yaml:13: routing.default_pool: unknown pool 'europe'",
        ),
        (
            "{name: closers, role: ae,",
            "{name: emea, role: ae,",
            "playbook.yaml:10: routing.pools[2].name: two pools are named 'emea'",
        ),
        (
            "{name: closers, role: ae, strategy: least_loaded}",
            "{name: closers, strategy: least_loaded}",
            "playbook.yaml:10: routing.pools[2]: pool 'closers' needs reps, a team or a role",
        ),
        (
            "weights: {zoe: 2}",
            "weights: {zoe: 0}",
            "playbook.yaml:9: routing.pools[1].weights: weight of 'zoe' must be above 0",
        ),
        (
            "timezone: Europe/Rome",
            "timezone: Europe/Roma",
            "playbook.yaml:17: sla.calendar.timezone: unknown time zone 'Europe/Roma'",
        ),
        (
            'hours: "09:00-18:00"',
            'hours: "18:00-09:00"',
            "playbook.yaml:17: sla.calendar.hours:",
        ),
        (
            "max_reassignments: 1",
            "max_reassignments: -1",
            "playbook.yaml:18: sla.escalation.max_reassignments:",
        ),
        (
            "framework: spiced",
            "framework: spicy",
            "playbook.yaml:5: stages.sql.framework: unknown framework 'spicy' "
            "(did you mean 'spiced'?)",
        ),
        (
            "  spiced:\n",
            "  bant:\n",
            "playbook.yaml:20: frameworks.bant: 'bant' is a bundled framework",
        ),
        (
            "{key: pain, prompt",
            "{key: situation, prompt",
            "playbook.yaml:24: frameworks.spiced.criteria[1].key: two criteria share the key",
        ),
        (
            "required: [pain]",
            "required: [pains]",
            "playbook.yaml:26: frameworks.spiced.required[0]: criterion 'pains' is not among",
        ),
        (
            "min_criteria_met: 2",
            "min_criteria_met: 3",
            "playbook.yaml:25: frameworks.spiced.min_criteria_met: impossible policy",
        ),
        (
            "template: hello}",
            "template: helo}",
            "playbook.yaml:35: nurture.tracks[0].steps[1].send.template: unknown template 'helo'",
        ),
        (
            "goto: end}",
            "goto: 7}",
            "playbook.yaml:36: nurture.tracks[0].steps[2].branch.goto: no step 7",
        ),
        (
            "channel: smtp",
            "channel: sms",
            "playbook.yaml:35: nurture.tracks[0].steps[1].send.channel: send.channel must be",
        ),
        (
            'body: "Still interested?"',
            'body: "{{ first_name "',
            "playbook.yaml:29: nurture.templates.hello.body: template error",
        ),
        (
            "        - {wait_days: 30}\n",
            "        - {wait_days: 30, wait: 2}\n",
            "playbook.yaml:34: nurture.tracks[0].steps[0].wait: unknown key 'wait'",
        ),
        (
            "routing:\n",
            "routin:\n",
            "playbook.yaml:6: routin: unknown key 'routin' (did you mean 'routing'?)",
        ),
    ],
)
def test_each_mistake_is_named_by_line_and_field(old: str, new: str, expected: str) -> None:
    assert FULL.count(old) == 1, old
    found = problems(FULL.replace(old, new))
    assert any(p.startswith(expected) for p in found), found


def test_a_framework_neither_bundled_nor_defined_is_refused() -> None:
    text = FULL.replace("framework: spiced", "framework: meddpicc")
    [p] = problems(text)
    assert p.startswith("playbook.yaml:5: stages.sql.framework: unknown framework 'meddpicc'")
    assert "bundled are bant, champ, anum, meddic, gpctba_ci" in p and "spiced" in p
    # A bundled name needs no frameworks: section.
    assert load_playbook(FULL.replace("framework: spiced", "framework: meddic")).frameworks


def test_a_key_in_the_wrong_section_says_so() -> None:
    text = FULL.replace("  stop_on_events: [unsubscribe]\n", "  allow_skip: []\n")
    assert problems(text) == [
        "playbook.yaml:37: nurture.allow_skip: unknown key 'allow_skip' here "
        "(it is a key of another section)"
    ]


def test_the_schema_owns_the_sections() -> None:
    props = Playbook.model_json_schema(by_alias=True)["properties"]
    assert {"routing", "sla", "frameworks", "nurture"} <= set(props)


def test_bundled_playbook_writes_out_todays_defaults() -> None:
    pb, _ = bundled_playbook()
    assert pb.stages.sql.framework == "bant" and pb.stages.sal.accept_within_hours == 1
    assert [(p.name, p.role, p.strategy) for p in pb.routing.pools] == [
        ("bdrs", "bdr", "round_robin"),
        ("aes", "ae", "round_robin"),
    ]
    assert (pb.routing.default_pool, pb.routing.handoff_default_pool) == ("bdrs", "aes")
    assert not pb.routing.rules and not pb.routing.handoff_rules
    assert (pb.sla, pb.frameworks, pb.nurture) == (
        SalesSections().sla,
        {},
        SalesSections().nurture,
    )
