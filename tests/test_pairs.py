import random
from collections import Counter

from codesift.config import PairsConfig
from codesift.data.pairs import assign_splits, build_pairs, clean_query, strip_signature, unit_pairs
from codesift.data.search_pairs import (
    MAX_CALLERS_PER_DOC,
    as_question,
    call_pairs,
    comment_blocks,
    comment_pairs,
    file_doc,
    file_pairs,
    identifier_pairs,
    name_words,
)
from codesift.records import CodeUnit, DocSection

BODY = "@cache\ndef area(width, height):\n    product = width * height\n    return product\n"


def unit(repo="r1", symbol="area", doc="Compute the area of a rectangle.\n\nArgs:\n    width: w", body=BODY,
         signature="def area(width, height)", kind="function", is_test=False, path="geo.py"):
    return CodeUnit(repo=repo, path=path, language="python", license="MIT", symbol=symbol, kind=kind,
                    parent=None, signature=signature, doc=doc, body=body, code=body, start_line=1, end_line=4,
                    start_byte=0, end_byte=len(body), is_test=is_test)


def test_clean_query_strips_urls_and_html():
    assert clean_query("See <b>docs</b> at https://x.io/a?b=1 &amp; more") == "See docs at & more"


def test_strip_signature_handles_decorators_and_multiline_headers():
    assert strip_signature(BODY, "def area(width, height)") == "    product = width * height\n    return product"
    go = "func (s *Server) Serve(\n\tctx context.Context,\n) error {\n\treturn nil\n}"
    assert strip_signature(go, "func (s *Server) Serve( ctx context.Context, ) error") == "\treturn nil\n}"
    assert strip_signature(BODY, "def other(x)") is None


def test_unit_pairs_types():
    pairs = list(unit_pairs(unit(), PairsConfig(), random.Random(0)))
    assert [p.pair_type for p in pairs] == ["doc-body", "signature-body"]
    assert pairs[0].query == "Compute the area of a rectangle."
    assert pairs[0].code == BODY
    assert pairs[1].query == "def area(width, height)" and "def area" not in pairs[1].code


def test_hard_positive_rate_strips_signature_from_doc_pairs():
    pairs = list(unit_pairs(unit(), PairsConfig(hard_positive_rate=1.0), random.Random(0)))
    assert "def area" not in pairs[0].code


def test_query_length_filter_and_classes():
    cfg = PairsConfig(min_tokens=3)
    assert [p.pair_type for p in unit_pairs(unit(doc="Area."), cfg, random.Random(0))] == ["signature-body"]
    assert list(unit_pairs(unit(doc="", kind="class"), cfg, random.Random(0))) == []


def test_readme_section_pairs_with_named_symbol():
    section = DocSection(repo="r1", path="README.md", license="MIT", heading="Usage > Geometry",
                         text="Call `area()` to get the size of a rectangle.\n```py\narea(2, 3)\n```", start_line=1,
                         end_line=4)
    pairs, _ = build_pairs([unit()], [section], PairsConfig(), seed=0)
    readme = [p for p in pairs if p.pair_type == "readme-file"]
    assert len(readme) == 1 and readme[0].query.startswith("Geometry: Call area")
    assert "area(2, 3)" not in readme[0].query


def test_tests_dropped_and_duplicates_removed():
    pairs, stats = build_pairs([unit(), unit(), unit(symbol="t", is_test=True)], [], PairsConfig(), seed=0)
    assert stats["drop:test-unit"] == 1 and stats["drop:duplicate-pair"] == 2 and len(pairs) == 2


def test_splits_hold_out_whole_repositories():
    counts = Counter({f"repo{i}": 10 for i in range(100)})
    counts["huge"] = 5000
    splits = assign_splits(counts, PairsConfig(val_fraction=0.05, test_fraction=0.05), seed=0)
    assert splits["huge"] == "train"
    total = sum(counts.values())
    for name in ("val", "test"):
        n = sum(counts[r] for r, s in splits.items() if s == name)
        assert 0 < n <= 0.05 * total * 1.5
    assert splits == assign_splits(counts, PairsConfig(val_fraction=0.05, test_fraction=0.05), seed=0)
    assert splits != assign_splits(counts, PairsConfig(val_fraction=0.05, test_fraction=0.05), seed=1)


# ------------------------------------------------------------------ search-shaped pairs (issue 23)

def method(symbol, parent="Config", language="python", repo="r1", doc=""):
    code = f"def {symbol}(self):\n    return self.path\n"
    return CodeUnit(repo=repo, path="cfg.py", language=language, license="MIT", symbol=symbol, kind="method",
                    parent=parent, signature=f"def {symbol}(self)", doc=doc, body=code, code=code, start_line=1,
                    end_line=2, start_byte=0, end_byte=len(code))


def test_name_words():
    assert name_words("read_json_file") == "read json file"
    assert name_words("readJSONFile") == "read json file"
    assert name_words("HTTPServer2") == "http server 2"


def test_identifier_pairs_forms_and_ambiguous_names():
    stats = Counter()
    units = [method("read_json_file"), method("run", parent="A"), *[method("get_path", parent=p) for p in "ABCD"],
             method("__init__"), method("new", parent="Config", language="rust")]
    cfg = PairsConfig(max_identifier_defs=3)
    pairs = list(identifier_pairs(units, cfg, random.Random(0), stats))
    queries = {p.symbol: p.query for p in pairs}
    assert queries["read_json_file"] in {"read_json_file", "read json file", "Config.read_json_file"}
    # four get_path definitions: only the qualified name is specific enough
    assert sorted(p.query for p in pairs if p.symbol == "get_path") == ["A.get_path", "B.get_path", "C.get_path",
                                                                        "D.get_path"]
    assert "__init__" not in queries and "run" not in queries and stats["identifier:too-short"] == 3
    assert all(p.pair_type == "identifier-def" and p.code.startswith("def ") for p in pairs)


def test_identifier_qualified_rust_and_generics():
    unit = method("from_bytes", parent="Buffer<T>", language="rust")
    pairs = [p.query for s in range(20) for p in identifier_pairs([unit], PairsConfig(), random.Random(s), Counter())]
    assert "Buffer::from_bytes" in pairs and "from bytes" in pairs


PY_FILE = '#!/usr/bin/env python\n"""Plugin discovery at startup: entry points are loaded once.\n\nMore."""\n\nimport a\n\n\ndef load():\n    return a.b()\n'


def test_file_doc_per_language():
    doc, rest = file_doc(PY_FILE, "python")
    assert doc.startswith("Plugin discovery at startup") and '"""' not in rest and rest.startswith("#!/usr")
    go = "// Copyright 2020 x\n\n// Package retry retries requests after a connection reset.\npackage retry\n\nfunc A() {}\n"
    doc, rest = file_doc(go, "go")
    assert doc == "Package retry retries requests after a connection reset." and rest.count("package retry") == 1
    assert "Package retry" not in rest
    rust = "// SPDX: MIT\n//! Parsing of TOML tables.\n//!\n//! Details.\nuse std::fmt;\nfn a() {}\n"
    doc, rest = file_doc(rust, "rust")
    assert doc.startswith("Parsing of TOML tables.") and "//!" not in rest
    ts = "/**\n * @fileoverview Router for HTTP routes.\n */\nexport const a = 1;\n"
    assert file_doc(ts, "typescript")[0].endswith("Router for HTTP routes.")
    assert file_doc("import a\n", "python") is None and file_doc("package x\n", "go") is None


def test_file_pairs_skip_licenses_and_keep_descriptions():
    files = [("r1", "pkg/plugins.py", "python", PY_FILE),
             ("r1", "pkg/lic.py", "python", '"""Copyright 2020 ACME, licensed under MIT."""\nimport a\nb = 1\nc = 2\n')]
    stats = Counter()
    pairs = list(file_pairs(files, PairsConfig(), stats))
    assert len(pairs) == 1 and pairs[0].pair_type == "doc-file" and pairs[0].path == "pkg/plugins.py"
    assert pairs[0].query == "Plugin discovery at startup: entry points are loaded once."
    assert "def load" in pairs[0].code and "Plugin discovery" not in pairs[0].code
    assert stats["doc-file:not-a-description"] == 1


def test_questions():
    asked = {as_question("Parses the header line of a request.", "parse_header", random.Random(s)) for s in range(60)}
    assert {"where is the header line of a request parsed", "how do i parse the header line of a request",
            "what parses the header line of a request", "how does parse header work"} <= asked
    assert as_question("Return the path.", "", random.Random(0)) is not None
    assert as_question("The cache.", "", random.Random(0)) is None
    assert as_question("A plugin manager.", "PluginManager", random.Random(0)) in {
        "how does plugin manager work", "what is plugin manager for", "where is plugin manager implemented"}


def test_search_types_leave_other_pairs_and_splits_alone():
    units = [unit(repo=f"r{i}", symbol=f"area_{i}", body=BODY.replace("area", f"area_{i}")) for i in range(40)]
    files = [("r0", "pkg/plugins.py", "python", PY_FILE)]
    units.append(unit(repo="r3", symbol="fetch", body=COMMENTED))
    units.append(unit(repo="r0", symbol="square", doc="", body="def square(s):\n    return area_0(s, s)\n"))
    base, _ = build_pairs(units, [], PairsConfig(test_fraction=0.1, val_fraction=0.1), seed=0)
    search_types = ["identifier-def", "doc-file", "question-body", "comment-block", "call-doc"]
    cfg = PairsConfig(test_fraction=0.1, val_fraction=0.1, types=["doc-body", "signature-body", "readme-file",
                                                                  *search_types])
    more, _ = build_pairs(units, [], cfg, seed=0, files=files)
    assert [(p.query, p.split) for p in more[: len(base)]] == [(p.query, p.split) for p in base]
    assert {p.pair_type for p in more[len(base):]} == set(search_types)
    splits = {p.repo: p.split for p in base}
    assert all(p.split == splits[p.repo] for p in more)


COMMENTED = """def fetch(url, retries=3):
    session = make_session()
    # retry the request once the connection was reset
    for attempt in range(retries):
        try:
            return session.get(url)
        except ConnectionResetError:
            # back off a little longer after every failed attempt
            time.sleep(attempt)

    # HACK: raise our own error here
    raise RuntimeError(url)
    # x = session.get(url, timeout=5)
    # short
    log.debug("gave up on the whole thing")
"""


def test_comment_blocks_take_the_lines_below_at_their_level():
    blocks = list(comment_blocks(COMMENTED, "python"))
    assert blocks[0] == ("retry the request once the connection was reset",
                         "for attempt in range(retries):\n    try:\n        return session.get(url)\n"
                         "    except ConnectionResetError:")  # the nested comment starts its own block
    assert blocks[1] == ("back off a little longer after every failed attempt", "time.sleep(attempt)")
    assert [c for c, _ in blocks[2:]] == ["HACK: raise our own error here", "x = session.get(url, timeout=5) short"]
    go = "func Load(p string) error {\n\t// read the whole config file into memory first\n\tb, err := os.ReadFile(p)\n}"
    assert list(comment_blocks(go, "go")) == [("read the whole config file into memory first", "b, err := os.ReadFile(p)")]
    assert list(comment_blocks(COMMENTED, "ruby")) == []


def test_comment_pairs_skip_directives_code_and_short_blocks():
    stats = Counter()
    pairs = list(comment_pairs([unit(symbol="fetch", body=COMMENTED)], PairsConfig(), stats))
    assert [p.query for p in pairs] == ["retry the request once the connection was reset"]  # block 2 too short
    assert pairs[0].pair_type == "comment-block" and pairs[0].code.startswith("for attempt")
    assert stats["comment:directive-or-code"] == 2 and stats["comment:length"] == 1
    longer = COMMENTED.replace("(attempt)", "(attempt * backoff)")  # the second block is long enough now
    assert len(list(comment_pairs([unit(body=longer)], PairsConfig(), Counter()))) == 2
    assert len(list(comment_pairs([unit(body=longer)], PairsConfig(max_comments_per_unit=1), Counter()))) == 1
    quoted = longer.replace("# back off a little", "# 'backoff': 'a little")  # a commented-out dict entry
    assert len(list(comment_pairs([unit(body=quoted)], PairsConfig(), Counter()))) == 1


JSON_DOC = "Serialize obj to a JSON formatted str.\n\nArgs:\n    obj: anything"


def test_call_pairs_pair_a_short_caller_with_the_doc_of_the_one_function_it_calls():
    units = [
        unit(repo="stdlib", symbol="dumps", path="json/__init__.py", doc=JSON_DOC, body="def dumps(obj):\n    ...\n"),
        unit(repo="stdlib", symbol="dumps", path="pickle.py", doc="Return the pickled bytes of an object.",
             body="def dumps(obj):\n    ...\n"),
        unit(repo="app", symbol="load_config", doc="Read the settings file.", body="def load_config():\n    ...\n"),
        unit(repo="app", symbol="to_json", doc="", body="def to_json(d):\n    return json.dumps(d, indent=2)\n"),
        unit(repo="app", symbol="save", doc="", body="def save(obj):\n    return dumps(obj)\n"),  # which dumps?
        unit(repo="app", symbol="main", doc="", body="def main():\n    cfg = load_config()\n    run(cfg)\n"),
        unit(repo="app", symbol="both", doc="", body="def both():\n    load_config()\n    json.dumps({})\n"),
        unit(repo="app", symbol="long", doc="", body="def long():\n" + "    load_config()\n" * 13),
        unit(repo="app", symbol="documented", body="def documented():\n    return json.dumps(1)\n"),
    ]
    stats = Counter()
    pairs = {p.symbol: p for p in call_pairs(units, PairsConfig(), random.Random(0), stats)}
    assert set(pairs) == {"to_json", "main"}
    assert pairs["to_json"].query == "Serialize obj to a JSON formatted str."  # the json one, by its module
    assert pairs["to_json"].pair_type == "call-doc" and pairs["to_json"].code == units[3].code
    assert pairs["main"].query == "Read the settings file."  # the caller's own repository's load_config
    assert stats["call:none"] == 1 and stats["call:several"] == 1 and stats["call:length"] == 1


def test_call_pairs_give_one_doc_a_few_callers_at_most():
    callers = [unit(repo="app", symbol=f"f{i}", doc="", body=f"def f{i}(d):\n    return json.dumps(d, {i})\n")
               for i in range(MAX_CALLERS_PER_DOC + 3)]
    api = unit(repo="stdlib", symbol="dumps", path="json/__init__.py", doc=JSON_DOC, body="def dumps(o):\n    ...\n")
    stats = Counter()
    pairs = list(call_pairs([api, *callers], PairsConfig(), random.Random(0), stats))
    assert len(pairs) == MAX_CALLERS_PER_DOC and stats["call:popular-doc"] == 3
    again = list(call_pairs([api, *callers], PairsConfig(), random.Random(0), Counter()))
    assert [p.symbol for p in again] == [p.symbol for p in pairs]  # a seeded choice


def test_call_pairs_never_ask_a_held_out_repositorys_doc():
    api = unit(repo="stdlib", symbol="dumps", path="json/__init__.py", doc=JSON_DOC, body="def dumps(o):\n    ...\n")
    own = unit(repo="app", symbol="load_config", doc="Read the settings file.", body="def load_config():\n    ...\n")
    to_json = unit(repo="app", symbol="to_json", doc="", body="def to_json(d):\n    return json.dumps(d)\n")
    main = unit(repo="app", symbol="main", doc="", body="def main():\n    cfg = load_config()\n    run(cfg)\n")
    stats = Counter()
    pairs = list(call_pairs([api, own, to_json, main], PairsConfig(), random.Random(0), stats, held_out={"app"}))
    assert [p.symbol for p in pairs] == ["to_json"]  # the pair's split comes from its caller
    assert stats["call:held-out-doc"] == 1


def test_build_pairs_keep_held_out_docs_out_of_call_doc_queries():
    units = []
    for i in range(40):
        doc = f"Compute the area of rectangle number {i} in square metres."
        units.append(unit(repo=f"r{i}", symbol=f"area_{i}", doc=doc, body=BODY.replace("area", f"area_{i}")))
        units.append(unit(repo=f"r{i}", symbol=f"square_{i}", doc="",
                          body=f"def square_{i}(s):\n    return area_{i}(s, s)\n"))
    cfg = PairsConfig(test_fraction=0.2, val_fraction=0.2, types=["doc-body", "call-doc"])
    pairs, stats = build_pairs(units, [], cfg, seed=0)
    held_out = {p.query for p in pairs if p.split != "train"}
    calls = [p for p in pairs if p.pair_type == "call-doc"]
    assert held_out and calls and stats["call:held-out-doc"] > 0
    assert not held_out & {p.query for p in calls}
