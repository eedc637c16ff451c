#!/usr/bin/python3
"""Differential test: plinth's template engine against Python's Jinja2.

Every case is rendered by both; outputs must be byte-for-byte identical, and
when Jinja2 raises, plinth must fail too (messages differ by design: plinth's
name file:line:col). Hand-written cases cover each feature; a seeded grammar
generates more. Run: jinja2_differential.py PATH/TO/template_render_tool
"""
import base64
import warnings
import json
import random
import subprocess
import sys

import jinja2

warnings.filterwarnings("ignore", category=SyntaxWarning)
TOOL = sys.argv[1] if len(sys.argv) > 1 else "build/bin/template_render_tool"
EXAMPLES = sys.argv[2] if len(sys.argv) > 2 else "examples/charts"
GENERATED = 400
SEED = 20261126


def to_bool(v):
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v == 1
    return str(v).lower() in ("true", "yes", "on", "1")


def b64encode(v):
    return base64.b64encode(str(v).encode("utf-8")).decode("ascii")


ENV = jinja2.Environment(undefined=jinja2.StrictUndefined)
ENV.filters["bool"] = to_bool
ENV.filters["b64encode"] = b64encode

CTX = {
    "name": "web-api",
    "env": "prod",
    "org": "acme",
    "n": 7,
    "neg": -3,
    "f": 2.5,
    "zero": 0,
    "t": True,
    "no": False,
    "nothing": None,
    "empty": "",
    "words": "  Hello big World  ",
    "xs": [3, 1, 2],
    "strs": ["b", "A", "c", "a", "B"],
    "nested": {"a": {"b": {"c": "deep"}}, "list": [{"k": 1}, {"k": 2}]},
    "values": {"replicas": 3, "region": "us-east-1", "enable_nat": "yes", "zones": ["a", "b", "c"],
               "cidr": "10.0.0.0/16", "tags": {"team": "platform", "cost": "shared"}, "port": "8080",
               "ratio": 0.75, "items": "a-param-called-items"},
    "multiline": "line one\nline two\n\nline four",
    "unicode": "café ☃",
    "mixed": [1, 2.5, "x", None, True],
    "d": {"z": 1, "a": 2, "m": 3},
}

HAND = [
    # text, whitespace control and comments
    "plain text only", "trailing newline\n", "two trailing newlines\n\n", "crlf\r\nline\r\n",
    "a {# comment #} b", "a {#- comment -#} b", "a  {{- name -}}  b", "a\n  {%- if t %}\n yes\n  {%- endif %}\nb",
    "{% if t -%}\n   x\n{%- endif %}", "{% for x in xs %}\n{{ x }}\n{% endfor %}", "  {% if t %}x{% endif %}  \n  end",
    "{{ name }}\n{{ name }}", "{% raw %}{{ not rendered }}{% endraw %}", "x {%- raw -%} {{ y }} {%- endraw -%} z",
    # literals and printing
    "{{ 1 }} {{ -1 }} {{ 1.5 }} {{ 1e3 }} {{ 1_000 }} {{ 0.1 + 0.2 }} {{ 1e-7 }} {{ 1e22 }} {{ 123456789.123 }}",
    "{{ 'single' }} {{ \"double\" }} {{ 'it\\'s' }} {{ 'a' 'b' }} {{ 'tab\\there' }} {{ '\\u00e9' }}",
    "{{ true }} {{ True }} {{ false }} {{ none }} {{ None }}",
    "{{ [1, 'two', 3.0, none, true] }} {{ (1, 2) }} {{ (1,) }} {{ () }} {{ {'a': 1, 'b': [2]} }}",
    "{{ [\"it's\", 'say \"hi\"', 'both \\' \"'] }}", "{{ ['a\\nb', 'c\\\\d'] }}", "{{ mixed }}", "{{ nested }}",
    "{{ 10 / 4 }} {{ 10 // 4 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2 ** 8 }} {{ 2 ** -1 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }}",
    "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ -2 ** 2 }} {{ 2 ** 3 ** 2 }} {{ 10 - 2 - 3 }} {{ 100 / 10 / 5 }}",
    "{{ 'ab' * 3 }} {{ 3 * 'x' }} {{ [1] * 3 }} {{ 'a' + 'b' }} {{ [1] + [2, 3] }} {{ 'n=' ~ n ~ '!' }} {{ 1 ~ 2 }}",
    "{{ true + 1 }} {{ f * 2 }} {{ n / 2 }} {{ n // 2 }} {{ 3.0 }} {{ 4 / 2 }}",
    # comparisons and logic
    "{{ 1 < 2 }} {{ 2 <= 2 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ 1 != 2 }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }}",
    "{{ 'a' in 'cat' }} {{ 2 in xs }} {{ 5 not in xs }} {{ 'z' in d }} {{ 'q' not in d }} {{ not 'b' in strs }}",
    "{{ t and n }} {{ no or 'fallback' }} {{ zero or empty or 'last' }} {{ t and no }} {{ not t }} {{ not nothing }}",
    "{{ [1,2] == [1,2] }} {{ (1,2) == [1,2] }} {{ {'a':1} == {'a':1} }} {{ none == none }} {{ true == 1 }}",
    "{{ 'yes' if t else 'no' }} {{ 'a' if no else 'b' if t else 'c' }} {{ (n if n > 5 else 0) + 1 }}",
    # names, attributes, items, slices
    "{{ values.region }} {{ values['replicas'] }} {{ nested.a.b.c }} {{ nested['a']['b'].c }} {{ nested.list[1].k }}",
    "{{ xs[0] }} {{ xs[-1] }} {{ strs[1:3] }} {{ strs[::2] }} {{ strs[::-1] }} {{ name[:3] }} {{ name[-3:] }} {{ xs.1 }}",
    "{{ values.items }}", "{{ values['items'] }}", "{{ d.keys() | list }} {{ d.values() | list }} {{ d.items() | list }}",
    "{{ d.get('z') }} {{ d.get('missing') }} {{ d.get('missing', 'dflt') }}",
    "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", "{% for k in d %}{{ k }}{% endfor %}",
    "{{ name.upper() }} {{ words.strip() }} {{ words.lstrip() }}| {{ words.rstrip() }}| {{ 'a-b-c'.split('-') }} {{ 'a b  c'.split() }}",
    "{{ name.replace('-', '_') }} {{ name.startswith('web') }} {{ name.endswith(('x', 'api')) }} {{ 'x,y,,z'.split(',', 1) }}",
    "{{ 'Hello World'.lower() }} {{ 'hello world'.title() }} {{ 'hELLO'.capitalize() }} {{ '-'.join(['a', 'b']) }}",
    # if / for
    "{% if n > 5 %}big{% elif n > 2 %}mid{% else %}small{% endif %}", "{% if zero %}a{% elif empty %}b{% else %}c{% endif %}",
    "{% if nothing is none %}none{% endif %}{% if missing is defined %}def{% else %}undef{% endif %}",
    "{% if values.nope is not defined %}ok{% endif %}", "{% if nested.a is mapping %}map{% endif %}",
    "{% for x in xs %}{{ loop.index }}/{{ loop.length }}{{ ',' if not loop.last }}{% endfor %}",
    "{% for x in xs %}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.revindex }}{{ loop.revindex0 }} {% endfor %}",
    "{% for x in [] %}x{% else %}empty{% endfor %}", "{% for x in xs if x > 1 %}{{ x }}{{ loop.length }}{% endfor %}",
    "{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }} {% endfor %}", "{% for (a, b) in [(1, 'x')] %}{{ a }}{{ b }}{% endfor %}",
    "{% for c in 'abc' %}{{ c }}.{% endfor %}", "{% for i in range(3) %}{{ i }}{% endfor %} {{ range(2, 10, 3) | list }}",
    "{% for row in nested.list %}{% for k, v in row.items() %}{{ k }}{{ v }}{% endfor %}{% endfor %}",
    "{% for x in xs %}{% for y in xs %}{{ loop.index }}{% endfor %}|{{ loop.index }} {% endfor %}",
    # set and scoping
    "{% set a = 5 %}{{ a * 2 }}", "{% set a, b = 1, 2 %}{{ a }}{{ b }}", "{% set s = 'x' ~ name %}{{ s }}",
    "{% set x = 1 %}{% for i in xs %}{% set x = i %}{% endfor %}{{ x }}",
    "{% set x = 1 %}{% if t %}{% set x = 2 %}{% endif %}{{ x }}",
    "{% set ns = namespace(total=0) %}{% for i in xs %}{% set ns.total = ns.total + i %}{% endfor %}{{ ns.total }}",
    "{% set ns = namespace() %}{% set ns.found = false %}{% for s in strs %}{% if s == 'c' %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.found }}",
    "{% set block %}inner {{ name }}{% endset %}[{{ block }}]", "{% set l = [1, 2] + [3] %}{{ l | length }}",
    # filters
    "{{ 'yes'|bool }} {{ 'On'|bool }} {{ 'TRUE'|bool }} {{ '1'|bool }} {{ 1|bool }} {{ 0|bool }} {{ 'no'|bool }} {{ ''|bool }} {{ true|bool }} {{ none|bool }} {{ 2|bool }}",
    "{{ '42'|int }} {{ '4.7'|int }} {{ 'x'|int }} {{ 'x'|int(9) }} {{ 3.9|int }} {{ -3.9|int }} {{ ' 12 '|int }} {{ true|int }} {{ none|int }} {{ '1_000'|int }}",
    "{{ '1.5'|float }} {{ 3|float }} {{ 'x'|float }} {{ '1e3'|float }} {{ ' 2 '|float }} {{ none|float(1.5) }}",
    "{{ 3|string }} {{ [1]|string }} {{ none|string }} {{ 1.0|string }} {{ (xs|string)|length }}",
    "[{{ words|trim }}] [{{ 'xxhixx'|trim('x') }}] {{ 'aaa'|replace('a', 'b') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 'abc'|replace('', '-') }}",
    "{{ 'hello world'|upper }} {{ 'HeLLo'|lower }} {{ 'hello big-world (x) [y] <z>'|title }} {{ 'hELLO wORLD'|capitalize }}",
    "{{ 'Hello big wonderful world'|truncate(15) }}|{{ 'Hello big wonderful world'|truncate(15, true) }}|{{ 'Hello big wonderful world'|truncate(15, false, '!!') }}|{{ 'short'|truncate(10) }}|{{ 'abcdefghijklmnop'|truncate(10, leeway=0) }}",
    "{{ xs|length }} {{ 'abc'|length }} {{ d|length }} {{ unicode|length }} {{ xs|count }}",
    "{{ missing|default('dflt') }} {{ empty|default('e') }} {{ empty|default('e', true) }} {{ nothing|default(1) }} {{ missing|d(2) }} {{ zero|default(5, boolean=true) }}",
    "{{ xs|join }} {{ xs|join(', ') }} {{ strs|join('-') }} {{ nested.list|join(',', attribute='k') }} {{ 'abc'|join('.') }}",
    "{{ xs|first }} {{ xs|last }} {{ 'abc'|first }} {{ 'abc'|last }} {{ d|first }}",
    "{{ 'abc'|list }} {{ d|list }} {{ (1, 2)|list }}", "{{ strs|unique|list }} {{ strs|unique(true)|list }} {{ [1, 1.0, true, 2]|unique|list }}",
    "{{ xs|sort }} {{ strs|sort }} {{ strs|sort(case_sensitive=true) }} {{ strs|sort(reverse=true) }} {{ nested.list|sort(attribute='k', reverse=true) }}",
    "{{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 1.23456|round(3) }} {{ 2.1|round(method='ceil') }} {{ 2.9|round(1, 'floor') }} {{ 7|round }} {{ -0.5|round }}",
    "{{ -3|abs }} {{ -2.5|abs }} {{ 4|abs }}",
    "{{ values|tojson }}", "{{ nested|tojson }}", "{{ mixed|tojson }}", "{{ \"<a href='x'>&</a>\"|tojson }}", "{{ unicode|tojson }}",
    "{{ {'b': 1, 'a': [1, 2.5, none]}|tojson(indent=2) }}", "{{ 1.0|tojson }} {{ 'x'|tojson }} {{ true|tojson }}",
    "{{ multiline|indent }}", "{{ multiline|indent(2, true) }}", "{{ multiline|indent(2, blank=true) }}", "{{ multiline|indent('> ') }}", "x:\n  {{ 'a\\nb'|indent(2) }}",
    "{{ 'hello'|b64encode }} {{ 'café'|b64encode }} {{ 42|b64encode }}",
    "{{ '%s-%s'|format(name, n) }} {{ '%d items'|format(3) }} {{ '%05.1f'|format(f) }} {{ 'x=%s' % n }} {{ '%s and %s' % ('a', 'b') }}",
    "{{ xs|reverse|list }} {{ 'abc'|reverse }} {{ xs|min }} {{ xs|max }} {{ strs|min }} {{ xs|sum }} {{ nested.list|sum(attribute='k') }}",
    "{{ d|items|list }} {{ d|dictsort }} {{ d|dictsort(by='value', reverse=true) }}",
    "{{ name|upper|replace('-', '_')|lower }} {{ xs|sort|first }} {{ (xs|sort)[1:] }} {{ -xs|length }}",
    # tests
    "{{ n is odd }} {{ n is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(2) }} {{ n is number }} {{ name is string }} {{ xs is sequence }}",
    "{{ nothing is none }} {{ t is true }} {{ no is false }} {{ t is boolean }} {{ f is float }} {{ n is integer }} {{ 'abc' is lower }} {{ 'ABC' is upper }}",
    "{{ 1 is eq 1 }} {{ 2 is gt 1 }} {{ 2 is in xs }} {{ missing is undefined }} {{ d is mapping }} {{ d.get is callable }}",
    # a realistic chart template
    """apiVersion: aws.planton.dev/v1
kind: AwsVpc
metadata:
  name: {{ values.name | default(name) }}-vpc
  org: {{ org }}
  env: {{ env }}
  labels:
{%- for k, v in values.tags.items() %}
    {{ k }}: {{ v }}
{%- endfor %}
spec:
  vpcCidr: {{ values.cidr }}
  availabilityZones:
{%- for z in values.zones %}
    - {{ values.region }}{{ z }}
{%- endfor %}
  isNatGatewayEnabled: {{ values.enable_nat | bool | lower }}
  subnetSize: {{ (values.port | int) // 32 }}
{% if values.replicas > 1 %}
---
apiVersion: aws.planton.dev/v1
kind: AwsSecurityGroup
metadata:
  name: {{ name }}-sg
spec:
  ingress: {{ [{'protocol': 'tcp', 'fromPort': values.port|int}] | tojson }}
{% endif %}
""",
    # errors both engines must raise
    "{{ missing }}", "{{ missing.attr }}", "{{ nested.nope }}", "{{ nested.nope.deeper }}", "{% if missing %}x{% endif %}",
    "{% for x in missing %}{% endfor %}", "{{ 1 / 0 }}", "{{ 1 // 0 }}", "{{ 1 % 0 }}", "{{ 'a' + 1 }}", "{{ 'a' < 1 }}",
    "{{ xs|nosuchfilter }}", "{% if t %}unclosed", "{% for x in xs %}", "{% endif %}", "{{ 1 + }}", "{{ name|truncate(1) }}",
    "{{ missing|upper }}", "{{ missing ~ 'x' }}", "{% set ns.x = 1 %}", "{{ (1, 2)|nosuch }}", "{{ 'x'|int(1, 2, 3) }}",
    "{{ xs[10] }}", "{{ 'abc'.nope() }}", "{{ n() }}", "{% for a, b in [1, 2] %}{% endfor %}", "{{ 'a' is nosuchtest }}",
    "{{ {'a': 1}['b'] }}", "{{ 'x' if no }}", "{% unknown %}", "{{ 'unterminated }}", "{# unclosed comment", "{{ xs|round }}",
]

# --- a seeded grammar of expressions and templates -------------------------

NAMES = ["n", "neg", "f", "zero", "t", "no", "nothing", "empty", "name", "xs", "strs", "d", "values.replicas",
         "values.region", "values.zones", "values.tags", "nested.a.b.c", "nested.list", "values.ratio", "unicode"]
STRING_LITS = ["'a'", "'b-c'", "\"x y\"", "'Hello'", "''", "'10'", "'yes'", "'3.5'", "'%s!'"]
NUMBER_LITS = ["0", "1", "2", "3", "-1", "7", "10", "0.5", "2.25", "1e2", "100"]
FILTERS0 = ["upper", "lower", "title", "capitalize", "trim", "length", "first", "last", "list", "sort",
            "string", "int", "float", "bool", "abs", "round", "tojson", "b64encode", "unique|list",
            "reverse|list", "join", "min", "max", "sum"]
FILTERS1 = ["default({})", "join({})", "replace({}, 'Z')", "int({})", "truncate(8, true)", "round(1)",
            "indent(2)", "format({})", "d({})"]
OPS = ["+", "-", "*", "/", "//", "%", "~", "==", "!=", "<", ">", "<=", ">=", "and", "or", "in", "not in"]
TESTS = ["defined", "undefined", "none", "number", "string", "odd", "even", "mapping", "sequence"]


def gen_atom(r, depth):
    c = r.random()
    if c < 0.35:
        return r.choice(NAMES)
    if c < 0.5:
        return r.choice(STRING_LITS)
    if c < 0.65:
        return r.choice(NUMBER_LITS)
    if c < 0.72:
        return r.choice(["true", "false", "none"])
    if c < 0.82 and depth < 3:
        return "[" + ", ".join(gen_expr(r, depth + 1) for _ in range(r.randint(0, 3))) + "]"
    if c < 0.87 and depth < 3:
        return "{" + ", ".join(f"{r.choice(STRING_LITS)}: {gen_expr(r, depth + 1)}" for _ in range(r.randint(0, 2))) + "}"
    return "(" + gen_expr(r, depth + 1) + ")" if depth < 3 else r.choice(NAMES)


def gen_expr(r, depth=0):
    if depth > 3:
        return gen_atom(r, depth)
    c = r.random()
    if c < 0.3:
        return gen_atom(r, depth)
    if c < 0.5:
        return f"{gen_atom(r, depth)} {r.choice(OPS)} {gen_atom(r, depth)}"
    if c < 0.7:
        f = r.choice(FILTERS0)
        return f"{gen_atom(r, depth)}|{f}"
    if c < 0.8:
        f = r.choice(FILTERS1).format(r.choice(STRING_LITS + NUMBER_LITS))
        return f"{gen_atom(r, depth)}|{f}"
    if c < 0.87:
        return f"{gen_atom(r, depth)} is {r.choice(['', 'not '])}{r.choice(TESTS)}"
    if c < 0.93:
        return f"{gen_expr(r, depth + 1)} if {gen_expr(r, depth + 1)} else {gen_expr(r, depth + 1)}"
    if c < 0.97:
        return f"not {gen_atom(r, depth)}"
    index = r.choice(["0", "-1", "1:", ":2", "::-1", "'a'"])
    return f"{gen_atom(r, depth)}[{index}]"


def gen_template(r, depth=0):
    parts = []
    for _ in range(r.randint(1, 4)):
        c = r.random()
        ws = lambda: r.choice(["", "-"])
        if c < 0.3:
            parts.append(r.choice(["text ", "\n", "  ", "a: ", "- item\n", "  x\n"]))
        elif c < 0.65:
            parts.append("{{%s %s %s}}" % (ws(), gen_expr(r), ws()))
        elif c < 0.8 and depth < 2:
            body = gen_template(r, depth + 1)
            other = gen_template(r, depth + 1) if r.random() < 0.5 else ""
            els = ("{%% else %s%%}" % ws()) + other if other else ""
            parts.append("{%%%s if %s %s%%}%s%s{%%%s endif %%}" % (ws(), gen_expr(r), ws(), body, els, ws()))
        elif c < 0.92 and depth < 2:
            it = r.choice(["xs", "strs", "values.zones", "d", "d.items()", "range(3)", "'ab'", "nested.list", "[]"])
            var = "k, v" if it == "d.items()" else "x"
            body = gen_template(r, depth + 1) + "{{ %s }}{{ loop.index }}" % var.split(",")[0]
            els = "{% else %}none" if r.random() < 0.3 else ""
            parts.append("{%%%s for %s in %s %s%%}%s%s{%%%s endfor %%}" % (ws(), var, it, ws(), body, els, ws()))
        else:
            parts.append("{%% set tmp = %s %%}{{ tmp }}" % gen_expr(r))
    return "".join(parts)


def generated_cases():
    r = random.Random(SEED)
    return [gen_template(r) for _ in range(GENERATED)]


def jinja_render(template):
    try:
        return {"ok": True, "output": ENV.from_string(template).render(**CTX)}
    except Exception as e:  # noqa: BLE001 - any Jinja2 failure is an expected error
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}


def printable_result(v):
    # Jinja2 generators (unique, reverse ...) print as <generator ...>; plinth
    # gives lists. Cases whose Jinja2 output shows such an object are skipped.
    return not (v["ok"] and ("<generator object" in v["output"] or "iterator object" in v["output"]
                             or "<built-in method" in v["output"] or "at 0x" in v["output"]))


def example_chart_cases():
    """Every template of every example chart, with the chart's defaults."""
    import glob
    import os

    import yaml

    cases = []
    for chart in sorted(glob.glob(os.path.join(EXAMPLES, "*", "Chart.yaml"))):
        root = os.path.dirname(chart)
        with open(os.path.join(root, "values.yaml")) as f:
            params = yaml.safe_load(f)["params"]
        values = {p["name"]: p.get("value", "test-" + p["name"].replace("_", "-")) for p in params}
        values.update({"env": "dev", "org": "acme"})
        context = {"values": values, "env": "dev", "org": "acme"}
        for path in sorted(glob.glob(os.path.join(root, "templates", "**", "*.yaml"), recursive=True)):
            with open(path) as f:
                cases.append((f.read(), context))
    return cases


def main():
    examples = example_chart_cases()
    templates = HAND + generated_cases() + [t for t, _ in examples]
    contexts = [CTX] * (len(HAND) + GENERATED) + [c for _, c in examples]
    expected = []
    for t, c in zip(templates, contexts):
        try:
            expected.append({"ok": True, "output": ENV.from_string(t).render(**c)})
        except Exception as e:  # noqa: BLE001
            expected.append({"ok": False, "error": f"{type(e).__name__}: {e}"})
    cases = [{"template": t, "context": c} for t, c in zip(templates, contexts)]
    proc = subprocess.run([TOOL], input=json.dumps(cases), capture_output=True, text=True, check=True)
    actual = json.loads(proc.stdout)
    compared = failures = 0
    for i, (t, want, got) in enumerate(zip(templates, expected, actual)):
        if not printable_result(want):
            continue
        compared += 1
        ok = (want["ok"] == got["ok"]) and (not want["ok"] or want["output"] == got["output"])
        if not ok:
            failures += 1
            if failures <= 25:
                origin = "hand" if i < len(HAND) else "generated" if i < len(HAND) + GENERATED else "example chart"
                print(f"--- case {i} ({origin}) differs")
                print("template:", repr(t))
                print("jinja2:  ", repr(want.get("output", want.get("error"))))
                print("plinth:  ", repr(got.get("output", got.get("error"))))
    hand = sum(1 for i in range(len(HAND)) if printable_result(expected[i]))
    errors = sum(1 for w in expected if not w["ok"])
    print(f"{compared} cases compared ({hand} hand-written, {GENERATED} generated, "
          f"{len(examples)} example-chart templates; {errors} expected errors), {failures} differ")
    sys.exit(1 if failures or compared < 300 else 0)


if __name__ == "__main__":
    main()
