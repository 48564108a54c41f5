from pathlib import Path

import pytest

from codesift.data.extract import doc_summary, extract_file, extract_units, is_test_path

FIXTURES = Path(__file__).parent / "fixtures" / "extract"


def units(name: str, language: str, path: str | None = None):
    text = (FIXTURES / name).read_text("utf-8")
    result = extract_file(text, language, repo="r", path=path or f"pkg/{name}", license="MIT")
    assert not result.syntax_errors
    for unit in result.units:  # spans index the UTF-8 bytes and the 1-based lines of the file
        assert text.encode()[unit.start_byte : unit.end_byte].decode() == unit.code
        lines, code = text.splitlines(), unit.code.splitlines()
        assert code[0] in lines[unit.start_line - 1] and code[-1] in lines[unit.end_line - 1]
        assert unit.end_line - unit.start_line == len(code) - 1
    return result.units


def table(found):
    return [(u.symbol, u.kind, u.parent, u.signature, u.start_line, u.end_line) for u in found]


def by_symbol(found):
    return {u.symbol: u for u in found}


def test_python_units_signatures_and_spans():
    found = units("sample.py", "python")
    assert table(found) == [
        ("plain", "function", None, "def plain(a, b=1)", 7, 8),
        ("fetch", "function", None, "async def fetch(url: str, timeout: float = 1.0) -> bytes", 11, 18),
        ("Shape", "class", None, "class Shape(Base)", 21, 36),
        ("area", "method", "Shape", "def area(self)", 26, 27),
        ("make", "method", "Shape", "def make(kind)", 29, 30),
        ("Meta", "class", "Shape", "class Meta", 32, 36),
        ("inner", "method", "Shape.Meta", "def inner(self)", 33, 36),  # its nested helper() is not a unit
        ("typed", "function", None, "def typed() -> None", 40, 40),
    ]
    plain = found[0]
    assert (plain.start_byte, plain.end_byte) == (148, 183)  # 3 more than characters: 'é' and '☕' above
    assert plain.repo == "r" and plain.path == "pkg/sample.py" and plain.language == "python"
    assert plain.license == "MIT" and not plain.is_test and plain.doc == "" and plain.body == plain.code


def test_python_docstrings_are_cleaned_and_cut_from_the_body():
    found = by_symbol(units("sample.py", "python"))
    fetch = found["fetch"]
    assert fetch.doc == "Fetch ``url``.\n\nReturns the body — as bytes."
    assert fetch.code.startswith("@functools.lru_cache(maxsize=None)\nasync def fetch(")  # decorators included
    assert fetch.body == (
        "@functools.lru_cache(maxsize=None)\n"
        "async def fetch(url: str,  # the address\n"
        "                timeout: float = 1.0) -> bytes:\n"
        '    return b""'
    )
    assert found["Shape"].doc == r"A shape with a \d raw docstring."
    assert found["Shape"].body.startswith("class Shape(Base):\n\n    sides = 0\n")
    assert found["area"].body == "def area(self):\n        ..."  # a docstring-only body stays valid Python
    assert found["make"].doc == "Build one."
    assert found["make"].body == "@staticmethod\n    def make(kind): return Shape()"


@pytest.mark.parametrize(
    ("source", "doc"),
    [
        ('def f():\n    "Caf\\u00e9 \\"escaped\\"."\n    return 1\n', 'Café "escaped".'),
        ('def f():\n    "Implicit " "concatenation."\n    return 1\n', "Implicit concatenation."),
        ('def f():\n    # a comment first\n    """Still the docstring."""\n    return 1\n', "Still the docstring."),
        ('def f():\n    f"not {a} docstring"\n    return 1\n', ""),
        ('def f():\n    b"bytes are not docstrings"\n', ""),
        ("def f():\n    x = 'not first'\n    'no'\n", ""),
    ],
)
def test_python_docstring_forms(source, doc):
    (unit,) = extract_units(source, "python", repo="r", path="m.py", license=None)
    assert unit.doc == doc


def test_typescript_units_docs_and_decorators():
    found = units("widget.ts", "typescript")
    assert table(found) == [
        ("add", "function", None, "const add = async (a: number, b: number): Promise<number> =>", 9, 11),
        ("Widget", "class", None, "class Widget<T> extends Base implements Shape", 14, 27),
        ("render", "method", "Widget", "public static render(x: T): string", 17, 20),
        ("onClick", "method", "Widget", "onClick = (e: Event) =>", 22, 24),
        ("outer", "function", None, "function outer(items: string[]): number", 33, 36),
        ("origin", "function", None, "function origin()", 39, 39),
    ]  # no interface, no abstract method, no nested arrow function
    add, widget, render = found[:3]
    assert add.doc == "Adds two numbers.\n\n@param a - the first\n@returns the sum"
    assert doc_summary(add.doc) == "Adds two numbers."
    assert add.code.startswith("export const add = async") and add.start_byte == 146
    assert widget.doc == "A widget." and widget.code.startswith('@Component({ selector: "w" })\nexport class')
    assert render.doc == "Renders it." and render.code.startswith("@Input()\n  public static render(")


def test_tsx_uses_the_tsx_grammar():
    source = "/** Says hi. */\nexport function Hello(p: Props) {\n  return <div>{p.name}</div>;\n}\n"
    result = extract_file(source, "typescript", repo="r", path="ui/Hello.tsx", license=None)
    assert not result.syntax_errors
    assert [(u.symbol, u.doc, u.signature) for u in result.units] == [("Hello", "Says hi.", "function Hello(p: Props)")]


def test_javascript_units_and_commonjs_idioms():
    found = units("legacy.js", "javascript")
    assert table(found) == [
        ("greet", "function", None, "function greet(name)", 3, 5),
        ("parse", "function", None, "exports.parse = function (text)", 7, 7),
        ("draw", "method", "Widget", "Widget.prototype.draw = function ()", 9, 9),
        ("a", "function", None, "a = function named()", 11, 11),  # one of several declarators: its own code
        ("double", "function", None, "double = (x) =>", 11, 11),
        ("Counter", "class", None, "class Counter", 13, 16),
        ("ids", "method", "Counter", "*ids()", 14, 14),
        ("count", "method", "Counter", "static count = () =>", 15, 15),
        ("main", "function", None, "module.exports = function main(argv)", 19, 19),
    ]
    assert found[0].doc == "Greets." and found[4].code == "double = (x) => x * 2"
    assert found[-1].doc == "The default export."


def test_go_functions_methods_and_types():
    found = units("stack.go", "go")
    assert table(found) == [
        ("Stack", "class", None, "type Stack[T any] struct", 5, 7),
        ("Push", "method", "Stack", "func (s *Stack[T]) Push(v T) (int, error)", 14, 17),
        ("New", "function", None, "func New[T any]() *Stack[T]", 19, 19),
        ("Reader", "class", None, "type Reader interface", 25, 27),
    ]  # no body-less (assembly) function, no type alias
    stack, push, new, reader = found
    assert stack.doc == "Stack holds values — LIFO." and stack.start_byte == 107
    assert push.doc == "Push adds v on top.\n\nIt grows the stack."  # the //go:noinline directive is left out
    assert new.doc == "" and reader.doc == "Reader reads."
    assert reader.code.startswith("Reader interface {")


def test_java_classes_methods_and_javadoc():
    found = units("Shapes.java", "java")
    assert table(found) == [
        ("Shapes", "class", None, "public class Shapes<T> extends Base implements Comparable<T>", 9, 36),
        ("Shapes", "method", "Shapes", "public Shapes()", 12, 14),
        ("compareTo", "method", "Shapes", "public int compareTo(T other)", 16, 20),
        ("Visitor", "class", "Shapes", "interface Visitor", 22, 26),
        ("depth", "method", "Shapes.Visitor", "default int depth()", 25, 25),  # visit() has no body
        ("Kind", "class", "Shapes", "enum Kind", 28, 32),
        ("corners", "method", "Shapes.Kind", "int corners()", 31, 31),
        ("checksArea", "method", "Shapes", "void checksArea()", 34, 35),
    ]
    shapes, constructor, compare = found[:3]
    assert shapes.doc == "A shape — with {@code area}.\n\n<p>More detail.\n@author someone"
    assert doc_summary(shapes.doc) == "A shape — with area."
    assert constructor.doc == "Makes one."
    assert compare.code.startswith("@Override\n    @SuppressWarnings")  # annotations in the code, not the signature
    assert [u.symbol for u in found if u.is_test] == ["checksArea"]  # JUnit @Test


TRAIT_IMPL_FMT = (
    "impl<T: fmt::Debug> fmt::Display for Point<T> { fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result }"
)


def test_rust_items_impls_attributes_and_tests():
    found = units("point.rs", "rust")
    assert table(found) == [
        ("Point", "class", None, "pub struct Point<T>", 4, 8),
        ("fmt", "method", "Point", TRAIT_IMPL_FMT, 12, 14),  # the trait impl is noted in the signature
        ("new", "method", "Point", "pub fn new(x: T) -> Self", 19, 22),
        ("Shape", "class", None, "pub trait Shape", 25, 28),
        ("name", "method", "Shape", "fn name(&self) -> &str", 27, 27),  # area() has no body
        ("free", "function", None, "pub fn free(a: u8) -> u8", 30, 30),
        ("adds", "function", None, "fn adds()", 34, 35),
    ]
    point, fmt, new = found[:3]
    assert point.doc == "A point.\nWith a second doc line between attributes."
    assert point.start_byte == 65 and point.code.startswith("#[derive(Debug, Clone)]\n/// With a second")
    assert point.body == "#[derive(Debug, Clone)]\npub struct Point<T> {\n    x: T,\n}"  # inner doc line cut
    assert fmt.doc == "Formats the point."
    assert new.doc == "Makes one." and new.code.startswith("#[inline]\n    pub fn new")
    assert [u.symbol for u in found if u.is_test] == ["adds"]


def test_rust_test_attributes():
    source = "#[tokio::test]\nasync fn a() {}\n#[test]\n#[should_panic]\nfn b() {}\nfn c() {}\n"
    found = extract_units(source, "rust", repo="r", path="src/lib.rs", license=None)
    assert [(u.symbol, u.is_test, u.start_line) for u in found] == [("a", True, 1), ("b", True, 3), ("c", False, 6)]


def test_test_files_mark_every_unit():
    source = "func TestPush(t *testing.T) {}\n"
    (unit,) = extract_units("package p\n" + source, "go", repo="r", path="stack/stack_test.go", license=None)
    assert unit.is_test and unit.symbol == "TestPush"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("tests/test_api.py", True),
        ("pkg/test_api.py", True),
        ("pkg/api_test.py", True),
        ("pkg/api_test.go", True),
        ("src/__tests__/api.js", True),
        ("src/api.spec.ts", True),
        ("src/api.test.js", True),
        ("src/api.test.tsx", True),
        ("src/test/java/ApiTest.java", True),
        ("werkzeug/testsuite/routing.py", True),
        ("pkg/testing_utils.py", False),
        ("numpy/testing/utils.py", False),
        ("src/contest.py", False),
        ("src/api.ts", False),
        ("latest/api.go", False),
    ],
)
def test_is_test_path(path, expected):
    assert is_test_path(path) is expected


@pytest.mark.parametrize(
    ("language", "source", "symbols"),
    [
        ("python", "def good():\n    return 1\n\ndef broken(:\n    pass\n\nclass K:\n    def m(self):\n"
         "        return (\n\n    def ok(self):\n        return 2\n\ndef after():\n    return 3\n",
         ["good", "ok", "after"]),
        ("javascript", "function good() { return 1; }\nfunction broken( { return; }\nfunction after() { return 3; }\n",
         ["good", "after"]),
        ("typescript", "function good(): number { return 1; }\nclass K { m( { } ok() { return 2; } }\n"
         "function after() { return 3; }\n", ["good", "after"]),
        ("go", "package p\nfunc good() int { return 1 }\nfunc broken( { }\nfunc after() int { return 3 }\n",
         ["good", "after"]),
        ("java", "class K { int good() { return 1; } int broken( { } int after() { return 3; } }\n",
         ["good", "after"]),
        ("rust", "fn good() -> u8 { 1 }\nfn broken( { }\nfn after() -> u8 { 3 }\n", ["good", "after"]),
    ],
)  # fmt: skip
def test_broken_syntax_keeps_the_well_formed_units(language, source, symbols):
    result = extract_file(source, language, repo="r", path="x", license=None)
    assert result.syntax_errors
    assert [u.symbol for u in result.units] == symbols


@pytest.mark.parametrize("language", ["python", "javascript", "typescript", "go", "java", "rust"])
def test_empty_and_garbage_files(language):
    assert extract_file("", language, repo="r", path="x", license=None).units == []
    garbage = extract_file("\x00\xff }{ ))) def fn func \ud800", language, repo="r", path="x", license=None)
    assert garbage.units == [] and garbage.syntax_errors


@pytest.mark.parametrize(
    ("name", "language"),
    [("sample.py", "python"), ("widget.ts", "typescript"), ("legacy.js", "javascript"), ("stack.go", "go"),
     ("Shapes.java", "java"), ("point.rs", "rust")],
)  # fmt: skip
def test_every_truncation_extracts_without_crashing(name, language):
    text = (FIXTURES / name).read_text("utf-8")
    for cut in range(0, len(text), 4):
        for unit in extract_units(text[:cut], language, repo="r", path=name, license=None):
            assert text.encode()[unit.start_byte : unit.end_byte].decode() == unit.code and unit.symbol


def test_signatures_drop_comments_and_collapse_whitespace():
    source = "def f(\n    a,  # first\n    b,\n) -> int:\n    return a\n"
    (unit,) = extract_units(source, "python", repo="r", path="m.py", license=None)
    assert unit.signature == "def f(a, b,) -> int"


@pytest.mark.parametrize(
    ("doc", "summary"),
    [
        ("Adds.\n\n@param a x", "Adds."),
        ("Adds two\nnumbers.\n@returns the sum", "Adds two numbers."),
        ("Fetch it.\n:param url: where", "Fetch it."),
        ("Uses {@link Foo} and {@code bar()}.\n<p>Details.", "Uses Foo and bar()."),
        ("", ""),
    ],
)
def test_doc_summary(doc, summary):
    assert doc_summary(doc) == summary
