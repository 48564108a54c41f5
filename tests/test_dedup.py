import json
import shutil

import numpy as np

from codesift.data.dedup import (
    BenchmarkGuard, NearDuplicateFilter, benchmark_texts, exact_key, load_exclusions, minhash_signature,
    repo_excluded, shingles,
)

from conftest import BENCHMARKS, REPO

BASE = "\n".join(f"def handler_{i}(request, response):\n    value = compute(request.args[{i}])\n"
                 f"    response.write(value * {i})\n    return response" for i in range(8))


def sig(text):
    return minhash_signature(text, 128, 5)


def test_exact_key_ignores_whitespace_only():
    assert exact_key("def f(x):\n    return x") == exact_key("def f(x):\n\treturn   x\n")
    assert exact_key("def f(x): return x") != exact_key("def f(y): return y")


def test_shingles():
    assert shingles("a b c", 5) == {b"a b c"}
    assert len(shingles("a b c d e f", 5)) == 2
    assert shingles("", 5) == set()


def test_near_duplicate_keep_first():
    near = NearDuplicateFilter(threshold=0.85, num_perm=128)
    variant = BASE.replace("handler_7", "handler_seven")  # one identifier changed: still a near duplicate
    other = "\n".join(f"fn parse_{i}(input: &str) -> Result<u32, Error> {{ input.trim().parse::<u32>() }}"
                      for i in range(8))
    assert near.keep(sig(BASE)) is True
    assert near.keep(sig(variant)) is False
    assert near.keep(sig(other)) is True
    assert near.keep(sig(BASE)) is False


def test_signatures_are_deterministic_across_calls():
    assert np.array_equal(sig(BASE), sig(BASE))


def test_benchmark_guard_catches_exact_and_near():
    guard = BenchmarkGuard([BASE], threshold=0.85, num_perm=128, shingle_size=5)
    assert guard.contaminated(exact_key(BASE + "\n"), sig(BASE))
    edited = BASE.replace("compute", "calc", 1)
    assert guard.contaminated(exact_key(edited), sig(edited))
    fresh = "def unrelated(a):\n    return sorted(a, key=len)\n"
    assert not guard.contaminated(exact_key(fresh), sig(fresh))
    assert guard.contains(BASE + "\n") and guard.contains(edited) and not guard.contains(fresh)


def test_benchmark_texts_reads_the_repositorys_benchmarks():
    texts = benchmark_texts(BENCHMARKS)
    cosqa = json.loads((BENCHMARKS / "cosqa" / "code_idx_map.txt").read_text())
    assert len(texts) == len(cosqa) + 1261 + 1400


def test_benchmark_texts_names_what_is_missing(tmp_path, caplog):
    (tmp_path / "cosqa").mkdir()
    shutil.copy(BENCHMARKS / "cosqa" / "code_idx_map.txt", tmp_path / "cosqa")
    texts = benchmark_texts(tmp_path)
    assert len(texts) == 6267
    assert "csn-ruby/test.jsonl not found: training data is not decontaminated against it" in caplog.text


def test_exclusion_list_matching():
    names = load_exclusions(REPO / "data" / "exclusions.txt")
    for repo in ("flask", "Flask", "github.com/gin-gonic/gin", "@trpc/server", "tokio-1.24.2", "serde",
                 "commons-lang3", "jackson-databind"):
        assert repo_excluded(repo, names), repo
    for repo in ("numpy", "github.com/spf13/viper", "serde_json-1.0.1", "@effect/schema", "lodash"):
        assert not repo_excluded(repo, names), repo
