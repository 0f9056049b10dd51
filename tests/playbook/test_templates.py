"""Nurture templates are untrusted: a template that would loop, grow or recurse without end
is refused with TemplateProblem (the step is then skipped and logged), never a hang, a
gigabyte string or another exception type."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadgate.playbook.templates import (
    MAX_OUTPUT,
    MAX_TEMPLATE,
    TemplateProblem,
    check_template,
    render,
)

LEAD = {"first_name": "Ada", "company": "Acme", "tags": ["a", "b"]}


def test_ordinary_templates_render_as_before() -> None:
    text = (
        "Hi {{ first_name | default('there') }} of {{ company|upper }}!\n"
        "{% for t in tags %}[{{ loop.index }}:{{ t }}]{% endfor %}"
        "{% macro m(x) %}<{{ x }}>{% endmacro %}{{ m(last_name) }}{{ '-' * 3 }}{{ 2 ** 10 }}"
        "{{ 'a' ~ 'b' }}{{ '%05d' % 42 }}{% for i in range(3) %}{{ i }}{% endfor %}"
    )
    out = render(check_template(text), LEAD)
    assert out == "Hi Ada of ACME!\n[1:a][2:b]<>---1024ab00042012"


@pytest.mark.parametrize(
    "text",
    [
        "{% for i in range(10**9) %}x{% endfor %}",
        "{{ range(1000000)|list|length }}",
        "{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(1000) %}"
        "{% endfor %}{% endfor %}{% endfor %}",
        "{{ 'x' * 1000000000 }}",
        "{{ [1] * 1000000000 }}",
        "{{ 2 ** 1000000000 }}",
        "{{ 10.0 ** 1000 }}",
        "{{ '%1000000000d' % 1 }}",
        "{{ '%*d' % (1000000000, 1) }}",
        "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}{{ ns.s|length }}",
        "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s + ns.s %}"
        "{% endfor %}{{ ns.s|length }}",
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}",
        "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
        "{{ 'x'|center(1000000000) }}",
        "{{ 'x\\ny'|indent(1000000000) }}",
        "{{ [1]|batch(1000000000, 'x')|list }}",
        "{{ [1]|slice(1000000000)|list }}",
        "{{ ('x' * 10000)|replace('', 'y' * 10000) }}",
        "{{ {'a': [1]}|tojson(1000000000) }}",
        "{{ lipsum(1000000) }}",
        "{% set s = 'x' * 100000 %}{{ ([s] * 10000)|join }}",
        "{% set s = 'x' * 100000 %}{{ [s] * 10000 }}",
        "{% set s = 'x' * 100000 %}{{ ([s] * 5)|string }}",
        "{% set s = 'x' * 100000 %}{% set l = [] %}{% for i in range(10000) %}"
        "{{ l.append(s) }}{% endfor %}{{ l|join }}",
        "{% set s = 'x' * 100000 %}{{ '%s' % ([s] * 5) }}",
        "{% set s = 'x' * 100000 %}{{ '{}'.format([s] * 5) }}",
        "{% set s = 'x' * 100000 %}{{ [s] ~ [s] }}",
        "{% set ns = namespace(l=['x' * 100000]) %}{% for i in range(100) %}"
        "{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l|length }}",
        "{{ (10 ** 999) ** 999 }}",
        "{{ range(10000)|map('string')|map('center', 100000)|join }}",
        "{{ range(10000)|map('string')|map('center', 100000)|list|length }}",
        "{{ range(10000)|select('odd')|map('string')|map('center', 100000)|sort|first }}",
        "{{ 'x\\ny'|indent('y' * 100000) }}",
        "{{ '{:>1000000000}'.format(1) }}",
    ],
)
def test_runaway_templates_are_refused(text: str) -> None:
    check_template(text)  # they parse: the limits are on rendering
    with pytest.raises(TemplateProblem) as exc:
        render(text, LEAD)
    # Refused before the value is built, not after (the output cap is the last line).
    assert "output over" not in str(exc.value)


def test_the_sandbox_still_hides_internals() -> None:
    with pytest.raises(TemplateProblem, match="unsafe"):
        render("{{ first_name.__class__.__mro__ }}", LEAD)


def test_output_is_capped() -> None:
    text = "{% for i in range(5000) %}{{ 'x' * 100 }}{% endfor %}"
    with pytest.raises(TemplateProblem, match="output"):
        render(text, LEAD)
    ok = "{% for i in range(50) %}{{ 'x' * 100 }}{% endfor %}"
    assert len(render(ok, LEAD)) == 5000 < MAX_OUTPUT


def test_huge_or_deeply_nested_templates_are_refused_at_load() -> None:
    with pytest.raises(TemplateProblem, match="long"):
        check_template("x" * (MAX_TEMPLATE + 1))
    with pytest.raises(TemplateProblem):
        check_template("{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}")


# -- fuzz: random templates from hostile pieces ---------------------------------------------

PIECES = [
    "{{ first_name }}",
    "{{ tags|join(', ') }}",
    "{% for i in range(N) %}",
    "{% endfor %}",
    "{% for t in tags %}",
    "{{ 'x' * N }}",
    "{{ [1] * N }}",
    "{{ N ** N }}",
    "{{ '%Nd' % 1 }}",
    "{{ '{:>N}'.format(1) }}",
    "{{ 'x'|center(N) }}",
    "{{ tags|batch(N, 'x')|list }}",
    "{% macro m(n) %}{{ m(n - 1) }}{{ m(n - 1) }}{% endmacro %}{{ m(N) }}",
    "{% set ns = namespace(s='ab') %}",
    "{% set ns.s = ns.s ~ ns.s %}",
    "{{ ns.s }}",
    "{{ range(N)|map('string')|map('center', N)|join }}",
    "{{ first_name.__class__ }}",
    "{{ tags.append(1) }}",
    "{{ undefined_thing.x.y }}",
    "{{ 1 / 0 }}",
    "{{ N|int }}",
    "{% if tags %}",
    "{% endif %}",
    "{{",
    "}}",
    "{%",
    "%}",
    "x",
    "\n",
    "é€😀",
]


@st.composite
def templates(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.sampled_from(PIECES), min_size=1, max_size=8))
    sizes = st.sampled_from(["0", "3", "99", "10000", "100000", "10**9", "-1"])
    return "".join(p.replace("N", draw(sizes)) for p in parts)


@settings(
    max_examples=150,
    deadline=None,  # a runaway template is caught by the limits, not by a clock
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(templates())
def test_any_template_renders_or_raises_template_problem(text: str) -> None:
    try:
        check_template(text)
    except TemplateProblem:
        return
    try:
        out = render(text, LEAD)
    except TemplateProblem:
        return
    assert isinstance(out, str) and len(out) <= MAX_OUTPUT
