"""Writes edge.json, the hand-written edge cases of the differential corpus.

The cases are written in Python for brevity (raw number spellings such as
1e3 are spliced in as text so that JSON keeps them). Edit and rerun from the
repository root:

    python3 jobtemplate/testdata/make_edge_corpus.py prefectaci/basejobtemplate.json \
        > jobtemplate/testdata/corpus/edge.json

Only the inputs live here; the expected results come from Python Prefect when
the test runs."""
import json, sys
cases = []
def A(name, template, values, **kw):
    cases.append(dict(name=name, mode="apply", template=template, values=values, **kw))
def R(name, jc, props, values, **kw):
    cases.append(dict(name=name, mode="render", template={"job_configuration": jc, "variables": {"properties": props}}, values=values, **kw))
def RT(name, template, values, **kw):
    cases.append(dict(name=name, mode="render", template=template, values=values, **kw))
def M(name, dep, fr, mode="merge", template=None, **kw):
    c = dict(name=name, mode=mode)
    if dep is not None: c["deployment_job_variables"] = dep
    if fr is not None: c["flow_run_job_variables"] = fr
    if template is not None:
        c["template"] = template; c["values"] = {}
    c.update(kw)
    cases.append(c)

# --- unicode and the placeholder pattern
A("unicode letters in name", {"v": "{{ ünï }}", "w": "x{{ 名前 }}"}, {"ünï": 1, "名前": "n"})
A("combining mark ends a name", {"v": "{{ a\u0301 }}", "w": "<{{ a\u0301 }}>"}, {"a\u0301": 1, "a": 2})
A("vertical tab is space", {"v": "{{\u000ba\u000b}}", "w": "-{{\u000ba }}"}, {"a": 1})
A("nbsp and ideographic space", {"v": "{{\u00a0a\u3000}}", "w": "-{{\u2003a\u205f}}-"}, {"a": "sp"})
A("file separator is space", {"v": "{{\u001ca\u001f}}"}, {"a": "fs"})
A("zero width space is not space", {"v": "{{\u200ba }}", "w": "{{ a }}"}, {"a": "z", "\u200ba": "zw"})
A("newline inside braces", {"v": "{{\na\n}}", "w": "[{{\r\n a \t}}]"}, {"a": 7})
A("arabic-indic digit index", {"v": "{{ a.\u0661 }}", "w": "{{ a[\u0660] }}"}, {"a": ["zero", "one"]})
A("superscript digit is a dict key", {"v": "{{ a.\u00b2 }}", "w": "{{ b.\u00b2 }}"}, {"a": {"\u00b2": "sq"}, "b": ["x", "y", "z"]})
A("roman numeral in name", {"v": "{{ \u216b }}"}, {"\u216b": "twelve"})
A("fullwidth digits index", {"v": "{{ a.\uff11 }}"}, {"a": ["x", "y"]})
A("mathematical digit index", {"v": "{{ a.\U0001d7d9 }}"}, {"a": ["x", "y", "z"]})
A("emoji is not a word char", {"v": "{{ \U0001f600 }}", "w": "{{ a\U0001f600 }}"}, {"\U0001f600": 1, "a": 2})
A("underscore index", {"v": "{{ a.1_0 }}", "w": "{{ a._1 }}", "x": "{{ a.1__0 }}"}, {"a": list(range(12))})
A("underscore key on dict", {"v": "{{ a.1_0 }}", "w": "{{ a._1 }}"}, {"a": {"1_0": "a", "_1": "b"}})
A("huge index is still an int", {"v": "{{ a.99999999999999999999999 }}", "w": "{{ b.99999999999999999999999 }}"}, {"a": {"99999999999999999999999": "dictkey"}, "b": ["x"]})
A("very long digit key is a dict key", {"v": "{{ a." + "1"*4301 + " }}"}, {"a": {"1"*4301: "long"}})
A("negative index", {"v": "{{ a.-1 }}", "w": "{{ a[-2] }}", "x": "{{ a.-3 }}"}, {"a": ["x", "y"]})
A("negative index on dict", {"v": "{{ a.-1 }}"}, {"a": {"-1": "neg"}})
A("index into string by code point", {"v": "{{ a.1 }}", "w": "{{ a[-1] }}"}, {"a": "h\u00e9\U0001f600"})
A("index into number", {"v": "{{ a.0 }}", "w": "k"}, {"a": 10})
A("index into bool and null", {"v": "{{ a.0 }}", "w": "{{ b.c }}"}, {"a": True, "b": None})
A("empty key segments", {"v": "{{ a. }}", "w": "{{ .a }}", "x": "{{ a..b }}"}, {"a": {"": "empty", "b": 1}, "": {"a": "lead"}})
A("brackets become dots", {"v": "{{ a[0][1] }}", "w": "{{ a]0[1 }}", "x": "{{ [0] }}"}, {"a": [["p", "q"]], "": ["root"]})
A("triple braces", {"v": "{{{ a }}}", "w": "{{ a }}}}", "x": "{{{{ a }}"}, {"a": "in"})
A("unclosed and empty", {"v": "{{ a }", "w": "{{}}", "x": "{{ }}", "y": "{ { a } }"}, {"a": 1})
A("dollar names", {"v": "{{ $ }}", "w": "[{{ $$ACIW_X }}]", "x": "{{ a$b }}", "y": "{{ $ACIW_X$ }}"}, {"a$b": "std"}, env={"ACIW_X": "ex", "ACIW_X$": "odd"})
A("env var alone is a string", {"v": "{{ $ACIW_N }}", "w": "{{ $ACIW_EMPTY }}"}, {}, env={"ACIW_N": "5", "ACIW_EMPTY": ""})
A("env var names with dots", {"v": "x{{ $ACIW.A }}"}, {}, env={"ACIW.A": "dot"})
A("env var and standard together", {"v": "{{ $ACIW_U }}@{{ host }}:{{ port }}"}, {"host": "h", "port": 5432}, env={"ACIW_U": "me"})
A("value holding placeholder text is not re-applied", {"v": "{{ a }}", "w": ["{{ a }}"]}, {"a": "{{ b }}", "b": "no"})
A("prefect-looking standard names", {"v": "{{ prefect.flow_run.id }}", "w": "{{ prefectx.blocks.a }}"}, {"prefect": {"flow_run": {"id": "fr"}}, "prefectx": {"blocks": {"a": "pb"}}})
A("variable and block placeholders survive apply", {"v": "{{ prefect.variables.x }}-{{ a }}", "w": ["{{ prefect.blocks.s.n }}"], "x": "{{ prefect.blocks.s.n }} {{ missing }}"}, {"a": "A"})

# --- Python repr of embedded values
A("repr printable unicode", {"v": "{{ a }}."}, {"a": ["\U0001f600", "\u00e9", "e\u0301", "\u4e2d", "\u0663"]})
A("repr non-printable unicode", {"v": "{{ a }}."}, {"a": ["\u200b", "\u00a0", "\u0085", "\u2028", "\ue000", "\u0378", "\U0010ffff", "\u00ad", "\u3000", "\U000e0001", "\u061c", "\ufeff"]})
A("repr control characters", {"v": "{{ a }}."}, {"a": ["\x00", "\x07", "\x1b[0m", "\x7f", "\r\n", "\t", "\x0b\x0c"]})
A("repr quotes", {"v": "{{ a }}."}, {"a": ["'", "\"", "'\"", "\\'", "\\\"", "a'b'c", "", "\\"]})
A("repr dict keys with quotes", {"v": "{{ a }}."}, {"a": {"it's": "x", "say \"hi\"": ["y"], "plain": {"n": None}}})
A("repr nested structures", {"v": "{{ a }}."}, {"a": {"l": [[], {}, [[]], {"k": {}}], "t": [True, False, None]}})
A("str of scalars inline", {"v": "{{ a }} {{ b }} {{ c }} {{ d }} {{ e }}"}, {"a": True, "b": False, "c": None, "d": 0, "e": ""})

# --- numbers: Python int/float distinction and repr
nums = ["1.0", "1e3", "1E3", "1e+3", "1.5E-7", "0.1", "0.30000000000000004", "1e16", "1e15", "9999999999999998.0",
        "123456789012345678.0", "1e22", "1.7976931348623157e308", "5e-324", "2.5e-5", "0.0001", "0.00001", "-0.0", "-0",
        "100", "-17", "9007199254740993", "123456789012345678901234567890", "1E400", "-1e400", "1e-400", "0.5", "2.675",
        "1.0000000000000002", "12345.678", "3.14159265358979323846"]
for i, n in enumerate(nums):
    tmpl = {"v": "<{{ a }}>", "w": "{{ a }}", "x": "{{ l }}!"}
    if n in ("1E400", "-1e400"):
        tmpl = {"v": "<{{ a }}>"}  # inf is not JSON, so only inline
    cases.append({"name": "number inline " + n, "mode": "apply", "template": tmpl, "values": "RAW" + str(i)})
numraw = {i: '{"a": %s, "l": [%s, {"k": %s}]}' % (n, n, n) for i, n in enumerate(nums) if n not in ("1E400", "-1e400")}
for i, n in enumerate(nums):
    if n in ("1E400", "-1e400"):
        numraw[i] = '{"a": %s}' % n

# --- render: schema, defaults, env, dotted keys
R("defaults of every type", {"a": "{{ a }}", "b": "{{ b }}", "c": "{{ c }}", "d": "x{{ d }}", "e": "{{ e }}", "f": "{{ f }}"},
  {"a": {"default": 0}, "b": {"default": False}, "c": {"default": ""}, "d": {"default": [1.0, "x"]}, "e": {"default": {}}, "f": {"default": None}}, {})
R("value null overrides default", {"a": "{{ a }}", "b": "v={{ b }}"}, {"a": {"default": 1}, "b": {"default": 2}}, {"a": None, "b": None})
R("values not in schema still apply", {"a": "{{ undeclared }}"}, {}, {"undeclared": "u"})
RT("no variables key", {"job_configuration": {"a": "{{ a }}"}}, {"a": 1})
RT("variables without properties", {"job_configuration": {"a": "{{ a }}"}, "variables": {"type": "object"}}, {"a": 1})
RT("properties null", {"job_configuration": {"a": "{{ a }}"}, "variables": {"properties": None}}, {"a": 1})
RT("properties a list", {"job_configuration": {"a": "{{ a }}"}, "variables": {"properties": ["a"]}}, {"a": 1})
RT("variables a string", {"job_configuration": {"a": "{{ a }}"}, "variables": "schema"}, {"a": 1})
R("property attrs a string without default", {"a": "{{ a }}"}, {"a": "string"}, {"a": 1})
R("property attrs a string with default", {"a": "{{ a }}"}, {"a": "has a default"}, {"a": 1})
R("property attrs a list", {"a": "{{ a }}"}, {"a": ["type"], "b": ["x", "default"]}, {"a": 1})
R("property attrs a list without default", {"a": "{{ a }}"}, {"a": ["type"]}, {"a": 1})
R("property attrs a number", {"a": "{{ a }}"}, {"a": 3}, {"a": 1})
R("property attrs null", {"a": "{{ a }}"}, {"a": None}, {"a": 1})
R("env default non-dict into env dict", {"env": {"A": "1"}}, {"env": {"default": "X=1"}}, {})
R("env default falsy is ignored", {"env": {"A": "1"}}, {"env": {"default": {}}}, {})
R("env default list replaces env placeholder", {"env": "{{ env }}"}, {"env": {"default": ["A=1"]}}, {})
R("env value string into env dict", {"env": {"A": "1"}}, {"env": {}}, {"env": "A=2"})
R("env value empty string is ignored", {"env": {"A": "1"}}, {"env": {}}, {"env": ""})
R("env value list into env dict", {"env": {"A": "1"}}, {"env": {}}, {"env": [["B", "2"]]})
R("env dict values of all types", {"env": "{{ env }}"}, {"env": {}}, {"env": {"I": 1, "F": 1.0, "B": True, "N": None, "L": [1], "D": {"k": "v"}}})
R("env dict merge with placeholders", {"env": {"BASE": "{{ image }}", "KEEP": "k"}}, {"image": {"default": "img"}}, {"env": {"JOB": "{{ image }}-j"}})
R("env dotted keys into env dict", {"env": {"BASE": "b"}}, {"env": {"default": {"DEF": "d"}}}, {"env.X": "x", "env.BASE": "over"})
R("dotted key on missing parent", {"a": "{{ a }}"}, {"a": {}}, {"a.b.c": [1, 2]})
R("dotted key through scalar fails", {"a": "{{ a }}"}, {"a": {}}, {"a.b": 1, "a.b.c": 2})
R("dotted key with brackets", {"a": "{{ a }}"}, {"a": {}}, {"a.b[0]": "x", "a.c": {"d": 1}})
R("bracket key without dot is literal", {"a": "{{ a }}", "b": "{{ a[0] }}"}, {"a": {}}, {"a[0]": "lit", "a": ["list"]})
R("dotted and nested deep merge", {"a": "{{ a }}"}, {"a": {"default": {"keep": 1}}}, {"a.b.c": 1, "a.b.d": 2, "a": {"b": {"d": 3, "e": {"f": 4}}}})
R("nested non-dict wins over dotted", {"a": "{{ a }}"}, {"a": {}}, {"a.b": 1, "a": "scalar"})
R("dotted key replaces default wholesale", {"a": "{{ a }}"}, {"a": {"default": {"keep": 1}}}, {"a.b": 2})
R("job configuration nested templates", {"outer": {"list": ["{{ a }}", "{{ missing }}", {"k": "{{ missing }}"}], "s": "{{ a }}/{{ missing }}"}}, {"a": {"default": "A"}}, {})
R("job configuration with non-string scalars", {"n": 1, "f": 1.5, "t": True, "z": None, "e": [], "o": {}}, {}, {})
R("env var placeholder in job configuration", {"home": "{{ $ACIW_HOME }}/x", "alone": "{{ $ACIW_HOME }}"}, {}, {}, env={"ACIW_HOME": "/h"})
R("default holding a placeholder is not re-applied", {"a": "{{ a }}"}, {"a": {"default": "{{ b }}"}, "b": {"default": "B"}}, {})

# --- block documents
blk = {"b1": {"client_id": "c", "client_secret": "s"}, "7": {"n": 7}, "True": {"t": True}, "x": {"value": "only"}}
R("ref id int", {"x": "{{ x }}"}, {"x": {}}, {"x": {"$ref": {"block_document_id": 7}}}, blocks=blk)
R("ref id falsy", {"x": "{{ x }}"}, {"x": {}}, {"x": [{"$ref": {"block_document_id": ""}}, {"$ref": {"block_document_id": 0}}, {"$ref": {"block_document_id": None}}, {"$ref": {}}]}, blocks=blk)
R("ref id list", {"x": "{{ x }}"}, {"x": {}}, {"x": {"$ref": {"block_document_id": ["b1"]}}}, blocks=blk)
R("ref a string", {"x": "{{ x }}"}, {"x": {}}, {"x": {"$ref": "b1"}}, blocks=blk)
R("ref null", {"x": "{{ x }}"}, {"x": {}}, {"x": {"$ref": None}}, blocks=blk)
R("ref other keys inside", {"x": "{{ x }}"}, {"x": {}}, {"x": {"$ref": {"block_type_slug": "s", "name": "n"}}}, blocks=blk)
R("ref in list and nested", {"x": "{{ x }}"}, {"x": {}}, {"x": [{"a": {"$ref": {"block_document_id": "b1"}}}, {"$ref": {"block_document_id": "b1"}}]}, blocks=blk)
R("ref data with placeholders stays", {"x": "{{ x }}"}, {"x": {}}, {"x": {"$ref": {"block_document_id": "p"}}}, blocks={"p": {"u": "{{ y }}", "v": "{{ prefect.variables.v }}"}}, variables={"v": "var"})
R("ref in job configuration itself", {"creds": {"$ref": {"block_document_id": "b1"}}}, {}, {}, blocks=blk)
R("ref only-value block is not unwrapped", {"x": {"$ref": {"block_document_id": "x"}}}, {}, {}, blocks=blk)
named = {"secret/tok": {"value": "abc"}, "json/cfg": {"value": {"values": [1, 2], "value": "inner", "k": {"n": [{"z": "deep"}]}}},
         "json/two": {"value": 1, "other": 2}, "s/int": {"value": 5}, "s/none": {"value": None}, "s/bool": {"value": False},
         "s/float": {"value": 2.50}, "s/list": {"value": ["a", "b"]}, "s/var": {"value": "{{ prefect.variables.v }}"},
         "s/quote": {"value": "it's"}, "my-slug/my-name": {"k": "dashed"}, "aws/creds": {"aws_access_key_id": "AK", "region": "eu", "nested": {"a": [1, {"b": "c"}]}}}
def B(name, value, **kw):
    R(name, {"x": "{{ x }}"}, {"x": {}}, {"x": value}, blocks_by_name=named, variables={"v": "var"}, **kw)
B("block unwrap single value", "{{ prefect.blocks.secret.tok }}")
B("block keypath value", "{{ prefect.blocks.secret.tok.value }}")
B("block keypath values is inside value", "{{ prefect.blocks.json.cfg.values }}")
B("block keypath values index", "{{ prefect.blocks.json.cfg.values[1] }}")
B("block keypath value.value", "{{ prefect.blocks.json.cfg.value.value }}")
B("block keypath value dict", "{{ prefect.blocks.json.cfg.value }}")
B("block keypath value[k] style", "{{ prefect.blocks.json.cfg.value.k.n[0].z }}")
B("block keypath valuex missing", "{{ prefect.blocks.json.cfg.valuex }}")
B("block whole dict", "{{ prefect.blocks.json.cfg }}")
B("block two keys no unwrap", "{{ prefect.blocks.json.two.value }}")
B("block two keys whole", "{{ prefect.blocks.json.two }}")
B("block nested keypath", "{{ prefect.blocks.aws.creds.nested.a[1].b }}")
B("block keypath index", "{{ prefect.blocks.aws.creds.nested.a.0 }}")
B("block keypath missing index", "{{ prefect.blocks.aws.creds.nested.a.5 }}")
B("block inline scalars", "{{ prefect.blocks.s.int }}/{{ prefect.blocks.s.none }}/{{ prefect.blocks.s.bool }}/{{ prefect.blocks.s.float }}/{{ prefect.blocks.s.quote }}")
B("block inline list error", "x{{ prefect.blocks.s.list }}")
B("block inline dict keypath error", "x{{ prefect.blocks.aws.creds.nested }}")
B("block inline keypath scalar", "https://{{ prefect.blocks.aws.creds.region }}.example/{{ prefect.blocks.secret.tok }}")
B("block alone list", "{{ prefect.blocks.s.list }}")
B("block value holding variable placeholder", "{{ prefect.blocks.s.var }}")
B("block missing by name", "{{ prefect.blocks.secret.nope }}")
B("block missing inline", "a {{ prefect.blocks.secret.nope }}")
B("block slug only", "{{ prefect.blocks.secret }}")
B("block prefix only", "x {{ prefect.blocks. }}")
B("block prefix repeated", "{{ prefect.blocks.secret.prefect.blocks.tok }}")
B("block with other placeholders inline", "{{ prefect.blocks.secret.tok }}-{{ prefect.variables.v }}-{{ $NOPE }}")
B("block in list", ["{{ prefect.blocks.secret.tok }}", ["{{ prefect.blocks.s.int }}"], {"k": "{{ prefect.blocks.json.two }}"}])
B("block repeated inline", "{{ prefect.blocks.secret.tok }}{{ prefect.blocks.secret.tok }}")
B("block name with dashes", "{{ prefect.blocks.my-slug.my-name.k }}")

# --- Prefect variables
vars_ = {"my-var": "dash", "v": "val", "n": 3, "f": 1.0, "b": True, "z": None, "d": {"k": ["it's", 1]}, "l": [1, "2"], "e": "", "dotted.name": "dn", "p": "{{ prefect.blocks.secret.tok }}"}
def V(name, value, **kw):
    R(name, {"x": "{{ x }}"}, {"x": {}}, {"x": value}, variables=vars_, blocks_by_name=named, **kw)
V("variable alone types", ["{{ prefect.variables.n }}", "{{ prefect.variables.f }}", "{{ prefect.variables.b }}", "{{ prefect.variables.z }}", "{{ prefect.variables.d }}", "{{ prefect.variables.l }}", "{{ prefect.variables.e }}"])
V("variable inline types", "{{ prefect.variables.n }}|{{ prefect.variables.f }}|{{ prefect.variables.b }}|{{ prefect.variables.z }}|{{ prefect.variables.d }}|{{ prefect.variables.l }}|{{ prefect.variables.e }}")
V("variable missing alone in list", ["{{ prefect.variables.nope }}", {"k": "{{ prefect.variables.nope }}"}])
V("variable dotted name", "{{ prefect.variables.dotted.name }}")
V("variable prefix repeated", "{{ prefect.variables.prefect.variables.v }}")
V("variable prefix only", "{{ prefect.variables. }}")
V("variable holding block placeholder is not resolved", "{{ prefect.variables.p }}")
V("variable with standard placeholder left", "{{ prefect.variables.v }} {{ prefect.vars.x }}")
V("variable repeated", "{{ prefect.variables.v }}+{{ prefect.variables.v }}")
V("variable name with dash", "{{ prefect.variables.my-var }}")

# --- merges (resolve_for_flow_run)
M("merge env key by key", {"env": {"A": "d", "B": "d"}, "image": "i"}, {"env": {"B": "f", "C": "f"}, "cpu": 2})
M("merge flow run wins wholesale", {"labels": {"a": 1}, "image": "d"}, {"labels": {"b": 2}, "image": "f"})
M("merge deployment env only", {"env": {"A": "1"}}, {"image": "x"})
M("merge flow run env only", {"image": "x"}, {"env": {"A": "1"}})
M("merge deployment env string", {"env": "A=1"}, {"env": {"B": "2"}})
M("merge flow run env string", {"env": {"A": "1"}}, {"env": "B=2"})
M("merge flow run env null", {"env": {"A": "1"}}, {"env": None})
M("merge flow run env pairs", {"env": {"A": "1"}}, {"env": [["B", "2"], ["A", "over"], "CD"]})
M("merge flow run env bad pair", {"env": {"A": "1"}}, {"env": [["B", "2", "3"]]})
M("merge flow run env number", {"env": {"A": "1"}}, {"env": 1.0})
M("merge flow run env empty list", {"env": {"A": "1"}}, {"env": []})
M("merge both null", None, None)
M("merge deployment null", None, {"env": {"A": "1"}})
M("merge empty env dicts", {"env": {}}, {"env": {}})
M("merge dotted env keys pass through", {"env": {"A": "1"}, "env.B": "2"}, {"env.C": "3"})
aci = json.load(open(sys.argv[1]))
M("flow run on aci template", {"env": {"A": "dep"}, "image": "prefecthq/prefect:3-latest", "resource_group_name": "rg", "subscription_id": "sub", "cpu": 1.0},
  {"env": {"B": "run"}, "memory": 2, "command": "python -m flow", "env.C": "dotted"}, mode="flow_run", template=aci)
M("flow run on aci template with blocks", {"aci_credentials": {"$ref": {"block_document_id": "creds"}}, "resource_group_name": "{{ prefect.variables.rg }}", "subscription_id": "sub"},
  {"image_registry": {"registry_url": "r.example", "username": "{{ prefect.blocks.secret.user }}", "password": "{{ prefect.blocks.secret.pw }}"}}, mode="flow_run", template=aci,
  blocks={"creds": {"client_id": "c", "tenant_id": "t", "client_secret": "s"}}, blocks_by_name={"secret/user": {"value": "u"}, "secret/pw": {"value": "p"}}, variables={"rg": "rg-var"})
M("flow run on aci template bad env", {"env": {"A": "dep"}}, {"env": "oops"}, mode="flow_run", template=aci)

out = []
for c in cases:
    if isinstance(c["values"] if "values" in c else None, str) and c["values"].startswith("RAW"):
        i = int(c["values"][3:])
        raw = numraw[i]
        c = dict(c); del c["values"]
        text = json.dumps(c, ensure_ascii=False)
        text = text[:-1] + ', "values": ' + raw + "}"
        out.append(text)
    else:
        out.append(json.dumps(c, ensure_ascii=False))
print("[\n " + ",\n ".join(out) + "\n]")
