"""The `git` source: head-revision files, and commit message -> changed definition pairs from a small history."""

import json
import os
import subprocess
from collections import Counter

import pyarrow.parquet as pq
import pytest

from codesift.config import DataConfig, PairsConfig, SourceConfig, load_recipe
from codesift.data.commits import (
    changed_definitions, clean_message, commit_units, message_drop_reason, named_definitions,
)
from codesift.data.dedup import load_exclusions
from codesift.data.pairs import build_pairs
from codesift.data.sources import EVALUATION_MARKER, SourceError, read_source
from codesift.records import SourceFile
from codesift.runs import RunDir
from codesift.stages import STAGES

from conftest import BENCHMARKS, REPO
from test_pipeline import MIT

GPL = (REPO / "tests" / "fixtures" / "licenses" / "GPL-3.0.txt").read_text()
EXCLUSIONS = load_exclusions(REPO / "data" / "exclusions.txt")

CLIENT = '''"""A tiny HTTP client."""

__version__ = "1.0.0"


def connect(host, port):
    """Open a connection to host:port."""
    sock = socket.create_connection((host, port))
    return sock


def send(sock, request):
    """Send a request and return the reply."""
    sock.sendall(request)
    return sock.recv(65536)
'''
RETRYING = CLIENT.replace('''    sock.sendall(request)
    return sock.recv(65536)''', '''    for attempt in range(3):
        try:
            sock.sendall(request)
            return sock.recv(65536)
        except ConnectionResetError:
            sock = connect(*sock.getpeername())
    raise ConnectionError("connection reset three times")''')
HEADERS = '''def retry_after(headers):
    """Seconds the server asks to wait, from the Retry-After header."""
    value = headers.get("retry-after", "0")
    return int(value) if value.isdigit() else 0
'''
LOGGING = '''def log_request(request):
    """Log one request."""
    line = request.split(b"\\r\\n", 1)[0]
    print(line.decode())
'''
MANY = "".join(f"def helper_{i}(x):\n    y = x + {i}\n    return y * 2\n\n\n" for i in range(9))


def git(repo, *args):
    env = {**os.environ, "GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "A",
           "GIT_COMMITTER_EMAIL": "a@x", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


def commit(repo, message, files):
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        git(repo, "add", name)
    git(repo, "commit", "-q", "-m", message)


def make_history(repo, license=MIT):
    """Every kind of commit the source must keep or drop; the kept ones are in EXPECTED."""
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "Add the HTTP client with connect and send", {"LICENSE": license, "client.py": CLIENT})
    commit(repo, "Retry the request after a connection reset (#12)", {"client.py": RETRYING})
    git(repo, "checkout", "-q", "-b", "feature")
    commit(repo, "feat(headers): parse the Retry-After header", {"headers.py": HEADERS})
    git(repo, "checkout", "-q", "main")
    commit(repo, "Describe the client in the README", {"README.md": "# client\n\nA tiny HTTP client.\n"})
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge branch 'feature'", "feature")
    commit(repo, "Log every request before sending it", {"logs.py": LOGGING})
    git(repo, "revert", "--no-edit", "HEAD")
    commit(repo, "Bump version to 1.1.0", {"client.py": RETRYING.replace("1.0.0", "1.1.0")})
    commit(repo, "Tidy up the client module", {"client.py": RETRYING.replace("1.0.0", "1.1.0").replace("    ", "\t")})
    commit(repo, "fix", {"client.py": RETRYING.replace("1.0.0", "1.1.0").replace("    ", "\t").replace("3)", "5)")})
    commit(repo, "Add nine small arithmetic helpers at once", {"helpers.py": MANY})
    commit(repo, "Show the retry option in the docs", {"docs/retry.py": "def demo(c):\n    r = c.send(b'x')\n    return r\n"})
    commit(repo, "Keep benchmark answers beside the code",
           {f"bench/{EVALUATION_MARKER}": "", "bench/answers.py": "def answer(q):\n    x = q * 2\n    return x\n"})
    (repo / "uncommitted.py").write_text("def draft(x):\n    y = x\n    return y\n")  # never read
    return repo


EXPECTED = {
    ("Add the HTTP client with connect and send", "connect"),
    ("Add the HTTP client with connect and send", "send"),
    ("Retry the request after a connection reset", "send"),
    ("headers: parse the Retry-After header", "retry_after"),
}


def read_commits(path, name=None, data=DataConfig(), exclusions=EXCLUSIONS, max_commits=2000):
    stats = Counter()
    units = list(commit_units(SourceConfig(kind="git", path=str(path), name=name, max_commits=max_commits), data,
                              exclusions, stats))
    return units, stats


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    return make_history(tmp_path_factory.mktemp("git") / "client")


def test_commits_give_exactly_the_described_definitions(history):
    units, stats = read_commits(history)
    assert {(u.message, u.symbol) for u in units} == EXPECTED
    assert all(u.repo == "client" and u.license == "MIT" and len(u.commit) == 40 for u in units)
    retried = next(u for u in units if u.message.startswith("Retry"))
    assert "ConnectionResetError" in retried.code and retried.path == "client.py"
    assert stats["commits:read"] == 12 and stats["commits:kept"] == 4  # merges are never read
    assert stats["commit-drop-unit:docs-folder"] == 1
    assert stats["commit-drop:revert"] == stats["commit-drop:reverted"] == stats["commit-drop:release"] == 1
    assert stats["commit-drop:formatting"] == stats["commit-drop:uninformative"] == 1
    assert stats["commit-drop:too-many-definitions"] == 1
    assert stats["commit-drop:no-code-change"] == 2  # the README, and the evaluation data's only code file
    assert stats["skip:evaluation-data"] >= 1


def test_head_revision_files_from_a_clone_and_a_bare_clone(history, tmp_path):
    bare = tmp_path / "client.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(history), str(bare)], check=True)
    for path in (history, bare):
        files = list(read_source(SourceConfig(kind="git", path=str(path)), max_file_bytes=1_000_000, stats=Counter()))
        assert {f.path for f in files} == {"client.py", "headers.py", "helpers.py", "docs/retry.py", "README.md"}
        assert {(f.repo, f.license, f.source) for f in files} == {("client", "MIT", "git")}
        assert "\t" in next(f.text for f in files if f.path == "client.py")  # committed content, not the disk's
    units, _ = read_commits(bare)
    assert {(u.message, u.symbol) for u in units} == EXPECTED


def test_max_commits_bounds_the_history(history):
    units, stats = read_commits(history, max_commits=5)
    assert stats["commits:read"] == 5 and not units
    assert read_commits(history, max_commits=0) == ([], Counter())


def test_gpl_at_head_skips_the_repository(tmp_path):
    repo = make_history(tmp_path / "gpl", license=MIT)
    commit(repo, "Relicense the project under the GPL", {"LICENSE": GPL})
    units, stats = read_commits(repo)  # MIT when the commits were made; GPL at HEAD decides
    assert not units and stats["commits:license-not-allowed"] == 1 and stats["commits:read"] == 0
    files = list(read_source(SourceConfig(kind="git", path=str(repo)), max_file_bytes=1_000_000, stats=Counter()))
    assert {f.license for f in files} == {"GPL-3.0-only"}  # the data stage's license filter drops them


def test_excluded_repository_is_skipped(history):
    units, stats = read_commits(history, name="pallets/click")
    assert not units and stats["commits:excluded-repo"] == 1


def test_not_a_repository_and_evaluation_data_are_refused(tmp_path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(SourceError, match="not a git repository"):
        read_commits(tmp_path / "plain")
    repo = tmp_path / "bench"
    repo.mkdir()
    git(repo, "init", "-q")
    commit(repo, "Add the benchmark folder marker", {EVALUATION_MARKER: "", "a.py": "def f(x):\n    y = x\n    return y\n"})
    with pytest.raises(SourceError, match="evaluation data"):
        list(read_source(SourceConfig(kind="git", path=str(repo)), max_file_bytes=1_000_000, stats=Counter()))


@pytest.mark.parametrize("message,cleaned", [
    ("Retry the request after a connection reset", "Retry the request after a connection reset"),
    ("fix(parser): handle empty input (#123)\n\nLong body.\n\nSigned-off-by: A <a@x>", "parser: handle empty input"),
    ("feat: add a retry option", "add a retry option"),
    ("Fix crash when the header is missing. Fixes #12", "Fix crash when the header is missing."),
    (":sparkles: Add a streaming decoder 🎉", "Add a streaming decoder"),
    ("[cli] Add a --json flag [skip ci]", "cli: Add a --json flag"),
    ("cli: replace atty with std::io::IsTerminal", "cli: replace atty with std::io::IsTerminal"),
    ("Don't crash on empty files (closes #44, #45)", "Don't crash on empty files"),
    ("Wrap the subject\nover two lines\n\nbody", "Wrap the subject over two lines"),
])
def test_clean_message(message, cleaned):
    assert clean_message(message) == cleaned


@pytest.mark.parametrize("message,author,reason", [
    ("Retry the request after a connection reset", "A", None),
    ("Release the lock after three retries", "A", None),
    ("Some new validators (#425)\n\n* Revert \"x\"\n\nThis reverts commit abc.\n\n* more", "A", None),
    ('Revert "Add X"\n\nThis reverts commit 0123abc.', "A", "revert"),
    ("Undo the cache\n\nThis reverts commit 0123abc.", "A", "revert"),
    ("Bump version to 1.2.3", "A", "release"),
    ("Bump pytest from 7.1 to 7.2", "A", "release"),
    ("Release 1.2.3", "A", "release"),
    ("v1.2.3", "A", "release"),
    ("Prepare 22.1.0", "A", "release"),
    ("Reformat with black", "A", "formatting"),
    ("Fix typo", "A", "formatting"),
    ("style: run prettier over the sources", "A", "non-code-type"),
    ("docs: explain the retries", "A", "non-code-type"),
    ("fixup! Add X", "A", "fixup"),
    ("fix", "A", "uninformative"),
    ("wip", "A", "uninformative"),
    ("Update README.md", "A", "uninformative"),
    ("Apply suggestions from code review", "A", "uninformative"),
    ("Merge branch 'main' into feature", "A", "uninformative"),
    ("Merge the two retry loops into one", "A", None),
    ("Add a retry option to the sender", "dependabot[bot]", "bot"),
    ("Ajouter la prise en charge des fichiers de configuration au format YAML pour le serveur", "A", "not-english"),
])
def test_message_drop_reasons(message, author, reason):
    assert message_drop_reason(message, clean_message(message), author) == reason


def test_changed_definitions_compare_bodies_not_lines():
    new = SourceFile("r", "client.py", "python", "MIT", "git", RETRYING)
    assert [u.symbol for u in changed_definitions(CLIENT, new)] == ["send"]
    assert [u.symbol for u in changed_definitions(None, new)] == ["connect", "send"]
    moved = SourceFile("r", "client.py", "python", "MIT", "git", CLIENT.replace('"""Open a', '"""Connect to') + "\n# end\n")
    assert changed_definitions(CLIENT, moved) == []  # a doc or whitespace edit changes no body
    swapped = CLIENT.split("\n\n\ndef send")[0]
    swapped = SourceFile("r", "client.py", "python", "MIT", "git", "def send" + CLIENT.split("\n\n\ndef send")[1]
                         + "\n\n" + swapped)
    assert changed_definitions(CLIENT, swapped) == []
    both = changed_definitions(None, new)
    assert [u.symbol for u in named_definitions("Time out send after a minute", both)] == ["send"]
    assert named_definitions("Time out after a minute", both) == both


def test_commit_body_pairs_follow_types_tests_and_splits(history):
    units, _ = read_commits(history)
    test_unit = units[0].__class__(**{**units[0].to_row(), "path": "tests/test_client.py", "is_test": True})
    pairs, stats = build_pairs([], [], PairsConfig(), 0, commits=[*units, test_unit])
    assert sorted((p.query, p.symbol) for p in pairs) == sorted(EXPECTED)
    assert {(p.pair_type, p.repo, p.split) for p in pairs} == {("commit-body", "client", "train")}
    assert stats["drop:test-commit-unit"] == 1
    assert build_pairs([], [], PairsConfig(types=["doc-body"]), 0, commits=units)[0] == []


def test_data_and_pairs_stages_decontaminate_commits(tmp_path):
    repo = make_history(tmp_path / "client")
    leaked = next(iter(json.loads((BENCHMARKS / "cosqa" / "code_idx_map.txt").read_text())))
    commit(repo, "Add the benchmark's function under another name", {"leaked.py": leaked + "\n"})
    sources = [{"kind": "git", "path": str(repo)}, {"kind": "git", "path": str(repo), "name": "flask"}]
    recipe = load_recipe(REPO / "recipes" / "tiny.yaml", [
        f"data.sources={json.dumps(sources)}", f"data.decontaminate_against={BENCHMARKS}", "pairs.test_fraction=0.0",
        "pairs.val_fraction=0.0"])
    run = RunDir(recipe, tmp_path / "runs")
    data = run.run_stage(STAGES["data"], log=lambda _: None).manifest
    counts = json.loads((run.stage_dir("data") / "stats.json").read_text())["counts"]
    assert counts["commit-drop-unit:benchmark-contaminated"] == 1 and counts["commits:excluded-repo"] == 1
    rows = pq.read_table(run.stage_dir("data") / "commits.parquet").to_pylist()
    assert {(r["message"], r["symbol"]) for r in rows} == EXPECTED and data["summary"]["commit_units"] == 4
    assert "### Commits dropped, by reason" in (run.stage_dir("data") / "report.md").read_text()
    run.run_stage(STAGES["pairs"], log=lambda _: None)
    pairs = pq.read_table(run.stage_dir("pairs") / "pairs.parquet").to_pylist()
    assert {(p["query"], p["symbol"]) for p in pairs if p["pair_type"] == "commit-body"} == EXPECTED
    assert {p["repo"] for p in pairs} == {"client"}
