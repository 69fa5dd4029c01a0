"""What a cell reads, binds and imports, from its source."""

from __future__ import annotations

import pytest

from jupyter_mlops.capture.analysis import analyze


@pytest.mark.parametrize("source, reads, binds", [
    ("y = x + 1", {"x"}, {"y"}),
    ("x = 1\ny = x", set(), {"x", "y"}),
    ("x = x + 1", {"x"}, {"x"}),
    ("x += 1", {"x"}, {"x"}),
    ("df['a'] = 1", {"df"}, set()),
    ("model.fit(X, y)", {"model", "X", "y"}, set()),
    ("for i in items:\n    total = i", {"items"}, {"i", "total"}),
    ("def f(a):\n    return a + offset", {"offset"}, {"f"}),
    ("squares = [v * k for v in values]", {"values", "k"}, {"squares"}),
    ("import numpy as np\nfrom sklearn import svm", set(), {"np", "svm"}),
    ("print(len(data))", {"data"}, set()),
    ("with open(p) as fh:\n    text = fh.read()", {"p"}, {"fh", "text"}),
    ("if (n := compute()) > 2:\n    pass", {"compute"}, {"n"}),
    ("class A(Base):\n    size = limit", {"Base", "limit"}, {"A"}),
    ("try:\n    pass\nexcept ValueError as err:\n    msg = str(err)", set(), {"err", "msg"}),
])
def test_reads_and_binds(source: str, reads: set[str], binds: set[str]) -> None:
    analysis = analyze(source)
    assert set(analysis.reads) == reads
    assert set(analysis.binds) == binds


def test_binds_keep_the_order_of_first_binding() -> None:
    analysis = analyze("from x import B, A\nridge = B()\nlasso = A()\nridge = 2\n"
                       "def f(arg): return arg\n")
    assert analysis.binds == ("B", "A", "ridge", "lasso", "f")


def test_literals_modules_and_strings() -> None:
    analysis = analyze(
        "import pandas as pd\nfrom sklearn.linear_model import Ridge\n"
        "C = 0.3\nlayers = [64, 32]\nname = 'exp'\nneg = -2\nnot_literal = C * 2\n"
        "df = pd.read_csv('data/train.csv')\n"
    )
    assert analysis.literals == {"C": 0.3, "layers": [64, 32], "name": "exp", "neg": -2}
    assert set(analysis.modules) == {"pandas", "sklearn"}
    assert "data/train.csv" in analysis.strings


def test_invalid_source_is_reported_not_raised() -> None:
    analysis = analyze("x = (")
    assert not analysis.parsed and not analysis.reads
