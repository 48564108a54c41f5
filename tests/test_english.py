import pytest

from codesift.data.english import is_english


@pytest.mark.parametrize(
    "doc",
    [
        "Compute the sum of two numbers and return the result.",
        "Fetch rows from a Bigtable. Retrieves rows pertaining to the given keys from the Table instance.",
        "Converts a numpy ndarray to a torch tensor on the given device.",
        "Parse ``config_path`` and return a dict; see https://example.com/docs/config for keys.\n\n"
        "    >>> load_config('a.yaml')\n    {'a': 1}",
    ],
)
def test_english_docs(doc):
    assert is_english(doc)


@pytest.mark.parametrize(
    "doc",
    ["Return x.", "HTTP GET wrapper", "init rng seed", "dtype of the tensor", "Get the tensor dtype.",
     "Alias for field number 0", "Implement setattr(self, name, value).", "Args:\n    x: tensor\nReturns:\n    Tensor",
     "", "返回两个数的和。", "Setze den Wert zurück."],
)  # fmt: skip
def test_short_or_technical_text_is_kept(doc):
    assert is_english(doc)


@pytest.mark.parametrize(
    "doc",
    [
        "Retourne la somme de deux nombres entiers passés en paramètre.",
        "Gibt die Summe zweier Zahlen zurück, die als Parameter übergeben werden.",
        "Die Funktion berechnet den Mittelwert der Liste und gibt ihn zurück.",
        "计算两个整数的和并返回结果，如果参数不是整数则抛出异常。",
        "Ritorna la lista degli elementi filtrati secondo il predicato dato.",
    ],
)
def test_confident_non_english_on_longer_text_is_dropped(doc):
    assert not is_english(doc)
