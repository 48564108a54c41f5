"""Search beyond the six training languages: definition chunks from the grammar wheels, every text type indexed,
a polyglot folder searched as one, and a lone match keeping its real score."""

import textwrap

import pytest

from codesift.config import IndexConfig
from codesift.data.languages import detect_language
from codesift.index import CodeIndex, Filters
from codesift.index.chunking import chunk_file, file_language
from codesift.index.definitions import GRAMMARS, find_definitions, parser
from codesift.runtime.fake import HashEncoder

ENC = HashEncoder(512)  # wide enough that the fixtures' words do not collide

# language -> (source, [(kind, symbol, start line, end line)]): one tiny file each, spans 1-based and inclusive.
DEFINITIONS = {
    "php": ("""\
        <?php
        function helper($x) {
            return $x + 1;
        }
        class Router extends Base {
            public function route($path) {
                return $path;
            }
        }
        """, [("function", "helper", 2, 4), ("class", "Router", 5, 9), ("method", "Router.route", 6, 8)]),
    "ruby": ("""\
        module Sinatra
          class Base
            def route(verb, path)
              verb + path
            end

            def self.settings
              @settings
            end
          end
        end
        """, [("class", "Sinatra", 1, 11), ("class", "Sinatra::Base", 2, 10), ("method", "Sinatra::Base.route", 3, 5),
              ("method", "Sinatra::Base.settings", 7, 9)]),
    "csharp": ("""\
        namespace Acme.Web
        {
            public class Router
            {
                public Router() { }

                public string Route(string path)
                {
                    return path;
                }
            }
        }
        """, [("class", "Router", 3, 11), ("method", "Router.Router", 5, 5), ("method", "Router.Route", 7, 10)]),
    "kotlin": ("""\
        class Router(val base: String) {
            fun route(path: String): String {
                return base + path
            }
        }

        fun topLevel(x: Int): Int = x * 2
        """, [("class", "Router", 1, 5), ("method", "Router.route", 2, 4), ("function", "topLevel", 7, 7)]),
    "scala": ("""\
        object Registry {
          def register(name: String): String = name
        }

        class Router(base: String) {
          def route(path: String): String = {
            base + path
          }
        }
        """, [("class", "Registry", 1, 3), ("method", "Registry.register", 2, 2), ("class", "Router", 5, 9),
              ("method", "Router.route", 6, 8)]),
    "swift": ("""\
        struct Point {
            init() {}
            func norm() -> Int { return 0 }
        }

        func topLevel(x: Int) -> Int {
            return x * 2
        }
        """, [("class", "Point", 1, 4), ("method", "Point.init", 2, 2), ("method", "Point.norm", 3, 3),
              ("function", "topLevel", 6, 8)]),
    "c": ("""\
        typedef struct {
            int x, y;
        } point_t;

        static char *name_of(struct point *p)
        {
            return "p";
        }
        """, [("class", "point_t", 1, 3), ("function", "name_of", 5, 8)]),
    "cpp": ("""\
        namespace acme {
        class Router {
        public:
            std::string route(const std::string &path) {
                return path;
            }
        };

        Router::~Router() {}

        template <typename T>
        T twice(T x) {
            return x * 2;
        }
        }
        """, [("class", "Router", 2, 7), ("method", "Router::route", 4, 6), ("function", "Router::~Router", 9, 9),
              ("function", "twice", 11, 14)]),
    "elixir": ("""\
        defmodule Acme.Router do
          def route(conn, path) do
            {conn, path}
          end

          defp helper(0), do: :zero
          defp helper(n) when n > 0, do: :pos
        end

        defimpl Inspect, for: Acme.Router do
          def inspect(_, _), do: "#Router<>"
        end
        """, [("class", "Acme.Router", 1, 8), ("method", "Acme.Router.route", 2, 4),
              ("method", "Acme.Router.helper", 6, 7), ("class", "Inspect.Acme.Router", 10, 12),
              ("method", "Inspect.Acme.Router.inspect", 11, 11)]),
    "haskell": ("""\
        module Acme.Router where

        data Route = Route String Int

        instance Show Route where
          show (Route p _) = p

        fact :: Int -> Int
        fact 0 = 1
        fact n = n * fact (n - 1)
        """, [("class", "Route", 3, 3), ("class", "Show Route", 5, 6), ("method", "Show Route.show", 6, 6),
              ("function", "fact", 8, 10)]),
    "lua": ("""\
        local M = {}

        function M.route(path)
          return path
        end

        function M:method(x)
          return self, x
        end

        M.other = function(y)
          return y
        end
        """, [("function", "M.route", 3, 5), ("function", "M:method", 7, 9), ("function", "M.other", 11, 13)]),
    "shell": ("""\
        #!/bin/bash
        deploy() {
          rsync -avz dist/ server:/srv
        }

        function backup {
          pg_dump db > db.sql
        }
        deploy
        """, [("function", "deploy", 2, 4), ("function", "backup", 6, 8)]),
    "zig": ("""\
        const std = @import("std");

        pub const Router = struct {
            pub fn route(self: Router) []const u8 {
                return self.base;
            }
        };

        test "route returns the base" {
            try std.testing.expect(true);
        }
        """, [("class", "Router", 3, 7), ("method", "Router.route", 4, 6),
              ("function", "route returns the base", 9, 11)]),
}  # fmt: skip


@pytest.mark.parametrize("language", sorted(DEFINITIONS))
def test_each_grammar_language_cuts_its_definitions(language):
    source, expected = DEFINITIONS[language]
    found = find_definitions(textwrap.dedent(source), language)
    assert [(d.kind, d.symbol, d.start_line, d.end_line) for d in found] == expected


def test_every_grammar_is_tested_and_names_node_types_it_has():
    """A typo or a grammar release that renames a node would silently cut nothing."""
    assert set(DEFINITIONS) == set(GRAMMARS)
    for language, grammar in GRAMMARS.items():
        known = parser(language).language
        for node_type in grammar.classes | grammar.functions | grammar.wrappers:
            assert known.id_for_node_kind(node_type, True), f"{language}: no {node_type} nodes"


def test_a_definition_with_a_parse_error_falls_to_windows():
    source = "def good\n  1\nend\n\ndef broken(\n  ) ) )\nend\n"
    chunks = chunk_file("lib/a.rb", source, "ruby")
    assert [(c.kind, c.symbol, c.start_line, c.end_line) for c in chunks][0] == ("function", "good", 1, 3)
    covered = {n for c in chunks for n in range(c.start_line, c.end_line + 1)}
    assert covered >= {n for n, line in enumerate(source.splitlines(), 1) if line.strip()}


def test_deeply_nested_code_does_not_exhaust_the_stack():
    """Generated code nests expressions thousands deep (one long concatenation); the walk keeps its own stack."""
    source = "x = " + " + ".join(['"a"'] * 3000) + "\ndef after\n  1\nend\n"
    assert [(d.symbol, d.start_line, d.end_line) for d in find_definitions(source, "ruby")] == [("after", 2, 4)]


def test_code_between_definitions_is_in_windows():
    source = textwrap.dedent(DEFINITIONS["lua"][0])
    chunks = chunk_file("m.lua", source, "lua")
    assert [(c.kind, c.start_line, c.end_line) for c in chunks] == [
        ("window", 1, 1), ("function", 3, 5), ("function", 7, 9), ("function", 11, 13)]
    assert chunks[1].text == "function M.route(path)\n  return path\nend"


@pytest.mark.parametrize(("path", "head", "language"), [
    ("lib/router.ex", "", "elixir"), ("test/router_test.exs", "", "elixir"), ("src/Main.hs", "", "haskell"),
    ("init.lua", "", "lua"), ("src/App.scala", "", "scala"), ("build.zig", "", "zig"), ("a.kts", "", "kotlin"),
    ("deploy.sh", "", "shell"), ("lib/x.bash", "", "shell"), ("include/a.hpp", "", "cpp"), ("a.h", "", "c"),
    ("db/schema.sql", "", "sql"), ("api.proto", "", "protobuf"), ("q.graphql", "", "graphql"),
    ("s.scss", "", "scss"), ("App.vue", "", "vue"), ("main.tf", "", "terraform"), ("build.gradle", "", "groovy"),
    ("Makefile", "", "make"), ("Dockerfile", "", "dockerfile"), ("Dockerfile.dev", "", "dockerfile"),
    ("CMakeLists.txt", "", "cmake"), ("Gemfile", "", "ruby"), ("docs/page.mdx", "", "markdown"),
    ("bin/tool", "#!/usr/bin/env bash", "shell"), ("bin/run", "#!/usr/bin/ruby3.2 -w", "ruby"),
    ("BUILD", "#!/bin/sh", "shell"),  # a script's '#!' line wins over a name it shares with Bazel files
    ("bin/tool", "#!/usr/bin/env python3", "python"), ("LICENSE", "", None), ("logo.png", "", None),
    ("data.parquet", "", None),
])  # fmt: skip
def test_file_language_names_every_common_text_type(path, head, language):
    assert file_language(path, head) == language


def test_the_training_languages_do_not_grow():
    """The corpus pipeline detects only its six languages and Markdown; the new ones are the search's alone."""
    for path in ("a.rb", "a.ex", "a.sh", "a.c", "Makefile"):
        assert detect_language(path) is None
    assert detect_language("tool", "#!/bin/bash") is None


POLYGLOT = {
    "lib/router.ex": "defmodule Router do\n  def dispatch_request(conn), do: conn\nend\n",
    "src/Parser.hs": "module Parser where\n\ntokenizeInput :: String -> [String]\ntokenizeInput = words\n",
    "init.lua": "local function load_plugins(dir)\n  return dir\nend\n",
    "src/Cache.scala": "object Cache {\n  def evictStale(): Unit = ()\n}\n",
    "src/alloc.zig": "fn arenaReset(a: *Arena) void {\n    a.reset();\n}\n",
    "scripts/backup.sh": "#!/bin/bash\npg_dump nightly_database > dump.sql\n",
    "bin/release": "#!/usr/bin/env bash\ngit tag publish_version\n",
    "db/schema.sql": "CREATE TABLE invoices (id INTEGER PRIMARY KEY);\n",
    "Makefile": "lint_everything:\n\truff check .\n",
    "app.py": "def handler(request):\n    return request.body\n",
}  # fmt: skip


def test_a_polyglot_folder_is_indexed_and_searched_as_one(tmp_path):
    root = tmp_path / "poly"
    for rel, text in POLYGLOT.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    index = CodeIndex.create(tmp_path / "idx", ENC)
    report = index.update([root], ENC)
    assert report.skipped == {}  # nothing is "not-text" any more
    assert set(index.chunks.c["path"]) == set(POLYGLOT)
    assert set(index.stats()["languages"]) == {"elixir", "haskell", "lua", "scala", "zig", "shell", "sql", "make",
                                               "python"}
    for query, path, symbol in [("dispatch_request", "lib/router.ex", "Router.dispatch_request"),
                                ("tokenizeInput", "src/Parser.hs", "tokenizeInput"),
                                ("evictStale", "src/Cache.scala", "Cache.evictStale"),
                                ("arenaReset", "src/alloc.zig", "arenaReset"),
                                ("nightly_database", "scripts/backup.sh", ""),
                                ("publish_version", "bin/release", ""),
                                ("invoices", "db/schema.sql", "")]:
        best = index.search([query], 1, encoder=ENC)[0][0]
        assert (best.path, best.symbol) == (path, symbol), query


def test_a_lone_shell_script_keeps_its_real_bm25_score(tmp_path):
    """z-score fusion standardizes each side by its candidates' spread; one candidate has none, which used to zero
    every score: `codesift search` of one script, or a filter keeping one chunk, printed 0.000."""
    root = tmp_path / "scripts"
    root.mkdir()
    (root / "backup.sh").write_text("#!/bin/bash\n# back up the postgres database every night\npg_dump db\n")
    (root / "app.py").write_text("def handler(request):\n    return request.body\n")
    lexical_only = IndexConfig(bm25_weight=1.0, dense_weight=0.0)
    for searched, filters in [(root / "backup.sh", None), (root, Filters(languages=("shell",)))]:
        index = CodeIndex.create(tmp_path / f"idx-{searched.name}", ENC, lexical_only)
        index.update([searched], ENC)
        hit, = index.search(["postgres database"], 5, encoder=ENC, filters=filters)[0]
        assert hit.path.endswith("backup.sh") and hit.score > 0
        assert index.search(["kubernetes"], 5, encoder=ENC, filters=filters)[0][0].score == 0
