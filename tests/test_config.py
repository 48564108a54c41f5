from pathlib import Path

import pytest

from codesift.config import Recipe, RecipeError, load_recipe

from conftest import REPO

MINIMAL = """
name: t
model: {layers: 2, hidden: 32, heads: 4, intermediate: 64, max_seq_len: 64}
pretrain: {steps: 1, batch_size: 2, seq_len: 64}
train: {steps: 1, batch_size: 4}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", sorted((REPO / "recipes").glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_recipes_validate(path):
    recipe = load_recipe(path)
    assert recipe.name == path.stem


def test_minimal_recipe_gets_defaults(tmp_path):
    recipe = load_recipe(write(tmp_path, MINIMAL))
    assert isinstance(recipe, Recipe)
    assert recipe.index.m == 16 and recipe.index.ef_construction == 200


def test_unknown_key_names_file_key_and_allowed(tmp_path):
    path = write(tmp_path, MINIMAL.replace("layers: 2", "layers: 2, colour: red"))
    with pytest.raises(RecipeError) as e:
        load_recipe(path)
    msg = str(e.value)
    assert str(path) in msg and "model.colour" in msg and "allowed here:" in msg and "hidden" in msg


def test_unknown_section(tmp_path):
    with pytest.raises(RecipeError, match=r"unknown key 'trian'.*allowed here: .*train"):
        load_recipe(write(tmp_path, MINIMAL + "trian: {}\n"))


def test_wrong_type(tmp_path):
    with pytest.raises(RecipeError, match=r"model\.layers: .*integer.*\(got 'many'\)"):
        load_recipe(write(tmp_path, MINIMAL.replace("layers: 2", "layers: many")))


@pytest.mark.parametrize(
    "old,new,match",
    [
        ("hidden: 32", "hidden: 30", r"hidden \(30\) must be divisible by heads \(4\)"),
        ("batch_size: 4", "batch_size: 4, temperature: 0.5", r"train\.temperature: must be between 0.02 and 0.07"),
        ("name: t", "name: t\ntokenizer: {vocab_size: 1000}", r"tokenizer\.vocab_size: must be a multiple of 64"),
        ("batch_size: 2, seq_len: 64", "batch_size: 2, seq_len: 128", r"pretrain\.seq_len \(128\) exceeds model\.max_seq_len \(64\)"),
        ("name: t", "name: 'Bad Name'", r"name: String should match pattern"),
    ],
)
def test_impossible_values(tmp_path, old, new, match):
    with pytest.raises(RecipeError, match=match):
        load_recipe(write(tmp_path, MINIMAL.replace(old, new)))


def test_missing_section(tmp_path):
    with pytest.raises(RecipeError, match="missing required key 'model'"):
        load_recipe(write(tmp_path, "name: t\npretrain: {steps: 1, batch_size: 2}\ntrain: {steps: 1, batch_size: 4}\n"))


def test_not_yaml_and_not_mapping(tmp_path):
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(write(tmp_path, "name: [unclosed"))
    with pytest.raises(RecipeError, match="must be a YAML mapping"):
        load_recipe(write(tmp_path, "- a\n- b\n"))
    with pytest.raises(RecipeError, match="no such recipe file"):
        load_recipe(tmp_path / "missing.yaml")


def test_overrides(tmp_path):
    recipe = load_recipe(write(tmp_path, MINIMAL), ["train.lr=3e-4", "index.ef_search=128"])
    assert recipe.train.lr == 3e-4 and recipe.index.ef_search == 128
    with pytest.raises(RecipeError, match="unknown key 'train.lrr'"):
        load_recipe(write(tmp_path, MINIMAL), ["train.lrr=1"])
    with pytest.raises(RecipeError, match="must look like section.key=value"):
        load_recipe(write(tmp_path, MINIMAL), ["train.lr"])


def test_recipe_is_immutable(tmp_path):
    recipe = load_recipe(write(tmp_path, MINIMAL))
    with pytest.raises(Exception):
        recipe.train.lr = 1.0
