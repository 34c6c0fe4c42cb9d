"""The locator: key paths of valid TOML → the lines where they start."""
import tomllib

from hypothesis import given, settings, strategies as st

from pppup_helper.policy_locate import line_of, locate

TRICKY = '''\
# comment with = and [brackets] and "quotes"
version = 1   # trailing comment

[lines.modem1]          # header comment
device = "/dev/ttyS1"
reset = "AT\\"Z#"       # escaped quote and a hash inside
description = """
multi-line with [[rules]] and
key = "not a key"
"""
"quoted.key" = 'literal \\ no escape'

[ lines . "odd name" ]
device = '/dev/ttyS2'
admin_users = [
  "alice",   # comment inside
  'bob',

  """carol""",
]

[[rules]]
users = ["a", "b"]
hours = ["Mon-Fri 08:00-18:00",
         "Sat 10:00-12:00"]
inline = { x = 1, y = [1, 2], z = { w = "v" } }

[[rules]]
dotted.key.here = 5
when = 1979-05-27 07:32:00
lines = [
  1979-05-27 07:32:00,
  "x",
]
tricky = """\\
  ends with quotes"\"""\"
after = true

[rules.sub]
k = 1
'''


def test_every_construct():
    assert tomllib.loads(TRICKY)  # the locator only ever sees valid TOML
    lines = locate(TRICKY)
    assert lines[("version",)] == 2
    assert lines[("lines",)] == 4
    assert lines[("lines", "modem1")] == 4
    assert lines[("lines", "modem1", "device")] == 5
    assert lines[("lines", "modem1", "reset")] == 6
    assert lines[("lines", "modem1", "description")] == 7
    assert lines[("lines", "modem1", "quoted.key")] == 11
    assert lines[("lines", "odd name")] == 13
    assert lines[("lines", "odd name", "device")] == 14
    assert lines[("lines", "odd name", "admin_users")] == 15
    assert lines[("lines", "odd name", "admin_users", 0)] == 16
    assert lines[("lines", "odd name", "admin_users", 1)] == 17
    assert lines[("lines", "odd name", "admin_users", 2)] == 19
    assert lines[("rules", 0)] == 22
    assert lines[("rules", 0, "users", 1)] == 23
    assert lines[("rules", 0, "hours", 1)] == 25
    assert lines[("rules", 0, "inline", "z", "w")] == 26
    assert lines[("rules", 1)] == 28
    assert lines[("rules", 1, "dotted")] == 29
    assert lines[("rules", 1, "dotted", "key", "here")] == 29
    assert lines[("rules", 1, "when")] == 30
    assert lines[("rules", 1, "lines", 1)] == 33
    assert lines[("rules", 1, "tricky")] == 35
    assert lines[("rules", 1, "after")] == 37
    assert lines[("rules", 1, "sub")] == 39
    assert lines[("rules", 1, "sub", "k")] == 40


def test_line_of_falls_back_to_the_nearest_ancestor():
    lines = locate(TRICKY)
    assert line_of(lines, ("rules", 1, "sub", "missing")) == 39
    assert line_of(lines, ("nothing",)) is None


def test_crlf_free_multiline_literal_and_empty_document():
    assert locate("") == {}
    text = "a = '''\nx\n'''\nb = 2\n"
    assert tomllib.loads(text)
    assert locate(text) == {("a",): 1, ("b",): 4}


# -- property: write random documents in varied layouts, locate every key ----
names = st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True)
scalars = st.one_of(st.integers(-10**6, 10**6), st.booleans(),
                    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12))


def _literal(value, draw):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if "'" not in value and draw(st.booleans()):
        return "'" + value + "'"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    if draw(st.booleans()):
        return '"""' + "\n" * draw(st.integers(0, 1)) + escaped + '"""'
    return '"' + escaped + '"'


@st.composite
def documents(draw):
    """A TOML text plus the expected line of each key path and array element."""
    out: list[str] = []
    expected: dict = {}

    def emit(text: str) -> int:
        out.append(text)
        return sum(part.count("\n") for part in out[:-1]) + 1

    def pad():
        for _ in range(draw(st.integers(0, 2))):
            emit(draw(st.sampled_from(["", "# a comment = [x]", "   "])) + "\n")

    def key_values(prefix):
        used = set()
        for _ in range(draw(st.integers(0, 3))):
            key = "k" + draw(names.filter(lambda k: "k" + k not in used))
            used.add(key)
            pad()
            if draw(st.booleans()):
                items = draw(st.lists(scalars.filter(lambda v: not isinstance(v, bool)), max_size=3))
                start = emit(f"{key} = [")
                expected[prefix + (key,)] = start
                for index, item in enumerate(items):
                    if draw(st.booleans()):
                        emit("\n  ")
                    line = sum(part.count("\n") for part in out) + 1
                    emit(_literal(item, draw) + ",")
                    expected[prefix + (key, index)] = line
                emit("\n]\n" if draw(st.booleans()) else "]\n")
            else:
                expected[prefix + (key,)] = emit(f"{key} = {_literal(draw(scalars), draw)}  # c\n")

    key_values(())
    tables = draw(st.lists(names, max_size=3, unique=True))
    for table in tables:
        pad()
        expected[("t", table)] = emit(f"[t.{table}]\n")
        key_values(("t", table))
    for index in range(draw(st.integers(0, 2))):
        pad()
        expected[("r", index)] = emit("[[r]]\n")
        key_values(("r", index))
    return "".join(out), expected


@settings(max_examples=300)
@given(documents())
def test_random_documents(document):
    text, expected = document
    tomllib.loads(text)  # the generator writes valid TOML
    lines = locate(text)
    for path, line in expected.items():
        assert lines.get(path) == line, (path, text)
