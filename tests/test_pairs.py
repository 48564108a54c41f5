import random
from collections import Counter

from codesift.config import PairsConfig
from codesift.data.pairs import assign_splits, build_pairs, clean_query, strip_signature, unit_pairs
from codesift.records import CodeUnit, DocSection

BODY = "@cache\ndef area(width, height):\n    product = width * height\n    return product\n"


def unit(repo="r1", symbol="area", doc="Compute the area of a rectangle.\n\nArgs:\n    width: w", body=BODY,
         signature="def area(width, height)", kind="function", is_test=False):
    return CodeUnit(repo=repo, path="geo.py", language="python", license="MIT", symbol=symbol, kind=kind,
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
