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


@pytest.mark.parametrize("source, writes, write_only", [
    ("df.to_csv('out.csv', index=False)", ["out.csv"], {"out.csv"}),
    ("df.to_parquet(path='a.parquet')", ["a.parquet"], {"a.parquet"}),
    ("np.save('arr', x)\nnp.savez('many.npz', a=x)", ["arr.npy", "many.npz"],
     {"arr.npy", "many.npz"}),
    ("joblib.dump(model, 'm.joblib')", ["m.joblib"], {"m.joblib"}),
    ("with open('o.txt', 'w') as fh:\n    fh.write('x')", ["o.txt"], {"o.txt"}),
    ("with open('log.txt', mode='a') as fh:\n    fh.write('x')", ["log.txt"], set()),
    ("Path('p.json').write_text('{}')", ["p.json"], {"p.json"}),
    ("pd.read_csv('a.csv').to_csv('a.csv')", ["a.csv"], set()),
    ("text = open('in.txt').read()\nPath('in.txt').read_text()", [], set()),
    ("path = 'out.csv'\ndf.to_csv(path)", [], set()),  # not a literal argument: not seen
])
def test_files_a_cell_writes(source: str, writes: list[str], write_only: set[str]) -> None:
    effects = analyze(source).effects
    assert list(effects.writes) == writes
    assert effects.write_only == write_only


@pytest.mark.parametrize("source, refits", [
    ("model = pipe.fit(X, y)", {"pipe"}),
    ("Z = scaler.fit_transform(X)", {"scaler"}),
    ("other = clone(est).fit(X, y)", {"est"}),
    ("scores = cross_val_score(est, X, y)", {"est"}),
    ("search = GridSearchCV(estimator=est, param_grid={})", {"est"}),
    ("p = model.predict(X)\nmodel.fit(X, y)", set()),  # used fitted before the refit
    ("model.partial_fit(X, y)", set()),
])
def test_models_a_cell_refits_before_using(source: str, refits: set[str]) -> None:
    assert analyze(source).effects.refits == refits
