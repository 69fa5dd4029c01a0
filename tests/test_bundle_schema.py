"""schema.json holds what the fitted model needs, and validation accepts every pandas dtype."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import json_split
from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler, TargetEncoder

from jupyter_mlops.bundle import contents, serve
from jupyter_mlops.data.profile import profile_of, schema_of

N = 400
RNG = np.random.default_rng(1)
CITIES = [f"city-{i:03d}" for i in range(120)]  # more than the profile's old top 50
FRAME = pd.DataFrame({
    "city": RNG.choice(CITIES, N),
    "shop": pd.Categorical(RNG.choice(["a", "b", "c"], N), categories=["c", "a", "b", "z"]),
    "note": pd.array([f"free text {i}" for i in range(N)], dtype="string"),
    "units": pd.array(np.where(RNG.random(N) < 0.05, None, RNG.integers(0, 9, N)),
                      dtype="Int64"),
    "flag": pd.array(np.where(RNG.random(N) < 0.05, None, RNG.random(N) < 0.5),
                     dtype="boolean"),
    "holiday": RNG.random(N) < 0.2,
    "day": pd.to_datetime("2024-01-01") + pd.to_timedelta(RNG.integers(0, 300, N), unit="D"),
    "price": RNG.normal(10, 2, N),
    # Python objects with None: SimpleImputer leaves None (it masks NaN) and the encoder
    # learns it as a category, so a request's missing value must come back as None.
    "channel": pd.Series(RNG.choice(["web", "shop", None], N), dtype=object),
})
TARGET = RNG.normal(size=N)
NUMERIC = ["units", "flag", "holiday", "price"]


def _scaled() -> Any:
    return make_pipeline(SimpleImputer(strategy="most_frequent"), StandardScaler())


def _fit(encoder: Any, text: Any = "drop") -> Any:
    return make_pipeline(make_column_transformer(
        (encoder, ["city", "shop"]), (text, "note"), (_scaled(), NUMERIC),
        (StandardScaler(), ["day"]),
        (make_pipeline(SimpleImputer(strategy="most_frequent"),
                       OneHotEncoder(handle_unknown="ignore")), ["channel"])), Ridge()
    ).fit(FRAME, TARGET)


def _schema(model: Any) -> dict[str, dict[str, Any]]:
    schema = contents.input_schema(schema_of(FRAME), profile_of(FRAME), model)
    return {c["name"]: c for c in schema["columns"]}


@pytest.mark.parametrize("encoder, unknown", [
    (OneHotEncoder(handle_unknown="ignore"), "accepted"),
    (OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=2), "accepted"),
    (OneHotEncoder(), "error"),
    (OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), "accepted"),
    (OrdinalEncoder(), "error"),
    (TargetEncoder(), "accepted"),
])
def test_categories_come_from_the_fitted_encoder(encoder: Any, unknown: str) -> None:
    columns = _schema(_fit(encoder))
    assert columns["city"]["categories"] == sorted(set(FRAME.city))  # all 120, not 50
    assert columns["city"]["kind"] == "category" and columns["city"]["unknown"] == unknown
    assert columns["shop"]["categories"] == ["a", "b", "c"]
    assert columns["shop"]["dtype_categories"] == ["c", "a", "b", "z"]
    assert columns["note"] == {"name": "note", "dtype": "string", "kind": "string",
                               "nullable": True, "used": False}


def test_text_read_by_a_vectorizer_is_open() -> None:
    columns = _schema(_fit(OneHotEncoder(handle_unknown="ignore"), TfidfVectorizer()))
    assert columns["note"]["kind"] == "string" and "categories" not in columns["note"]
    assert columns["note"].get("used", True)


def test_histgradientboosting_categories_from_its_own_preprocessing() -> None:
    frame = FRAME[["shop", "price"]]
    model = HistGradientBoostingRegressor(max_iter=5).fit(frame, TARGET)
    schema = contents.input_schema(schema_of(frame), profile_of(frame), model)
    shop = schema["columns"][0]
    assert shop["categories"] == ["a", "b", "c"] and shop["unknown"] == "accepted"
    assert shop["dtype_categories"] == ["c", "a", "b", "z"]  # the cast keeps the codes


@pytest.mark.parametrize("encoder", [OneHotEncoder(handle_unknown="ignore"), OneHotEncoder()])
def test_validation_accepts_the_notebook_frame_and_its_json(encoder: Any) -> None:
    model = _fit(encoder)
    schema = contents.input_schema(schema_of(FRAME), profile_of(FRAME), model)
    expected = model.predict(FRAME)
    as_frame = serve.validate(FRAME, schema)
    assert (as_frame.dtypes == FRAME.dtypes).all()
    split = json.loads(json.dumps(json_split(FRAME)))
    as_json = serve.validate(serve.frame_from_payload({"dataframe_split": split},
                                                      list(FRAME.columns)), schema)
    assert (as_json.dtypes == FRAME.dtypes).all()
    assert as_json.channel.isna().sum() and all(
        v is None for v in as_json.channel[as_json.channel.isna()])
    assert model.predict(as_frame).tolist() == expected.tolist()
    assert model.predict(as_json).tolist() == expected.tolist()


@pytest.mark.parametrize("column, value, message", [
    ("city", "atlantis", "unseen category 'atlantis'"),
    ("units", "many", "must be a number"),
    ("units", 1.5, "must be a whole number"),
    ("flag", "yes", "must be true or false"),
    ("day", "someday", "must be a date"),
    ("price", None, "must not be missing"),
])
def test_validation_names_the_bad_value(column: str, value: Any, message: str) -> None:
    schema = contents.input_schema(schema_of(FRAME), profile_of(FRAME), _fit(OneHotEncoder()))
    records = json.loads(FRAME.head(2).to_json(orient="records", date_format="iso"))
    records[1][column] = value
    with pytest.raises(serve.RequestError, match=f"column '{column}', row 1: {message}"):
        serve.validate(serve.frame_from_payload(records, list(FRAME.columns)), schema)


def test_signature_types_follow_the_dtypes() -> None:
    schema = contents.input_schema(schema_of(FRAME), profile_of(FRAME), _fit(OneHotEncoder()))
    types = {c["name"]: (c["type"], c["required"]) for c in contents.signature_inputs(schema)}
    assert types == {"city": ("string", True), "shop": ("any", True), "note": ("any", False),
                     "units": ("any", False), "flag": ("any", False),
                     "holiday": ("boolean", True), "day": ("datetime", True),
                     "price": ("double", True), "channel": ("string", False)}


def test_bundle_profile_keeps_no_rare_text() -> None:
    schema = contents.input_schema(schema_of(FRAME), profile_of(FRAME), _fit(OneHotEncoder()))
    profile = contents.bundle_profile(profile_of(FRAME), schema)
    note = profile["columns"]["note"]
    assert note["top"] == {} and note["other"] == N and note["withheld_values"] == N
    assert len(profile["columns"]["city"]["top"]) == len(set(FRAME.city))  # the model's own
    assert "free text 1" not in json.dumps(profile)


def test_names_pass_through_a_feature_function_step() -> None:
    from sklearn.preprocessing import FunctionTransformer

    frame = FRAME[["price", "city", "note"]]
    model = make_pipeline(
        FunctionTransformer(lambda X: X.assign(log_price=np.log(X.price.abs() + 1))),
        make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["city"]),
                                (StandardScaler(), ["log_price"]), remainder="drop"),
        Ridge()).fit(frame, TARGET[:N])
    schema = contents.input_schema(schema_of(frame), profile_of(frame), model)
    columns = {c["name"]: c for c in schema["columns"]}
    assert len(columns["city"]["categories"]) == len(set(FRAME.city))
    assert columns["note"].get("used", True)  # the function might read any column
    assert columns["price"].get("used", True) and columns["price"]["kind"] == "number"


def test_a_column_given_twice_is_refused_by_name() -> None:
    schema = contents.input_schema(schema_of(FRAME), profile_of(FRAME), _fit(OneHotEncoder()))
    split = json.loads(json.dumps(json_split(FRAME.head(2))))
    split["columns"][-1] = "price"  # "channel" is missing; "price" twice
    split["columns"].append("channel")
    split["data"] = [[*row, row[-1]] for row in split["data"]]
    for given in (serve.frame_from_payload({"dataframe_split": split}, list(FRAME.columns)),
                  pd.DataFrame(split["data"], columns=split["columns"])):
        with pytest.raises(serve.RequestError, match="column.s. price given more than once"):
            serve.validate(given, schema)


def test_float_records_make_the_frame_pandas_makes() -> None:
    records = [{"b": 0.5, "a": float("nan")}, {"b": 1e300, "a": -2.0}]
    built = serve.frame_from_payload(records, ["a", "b"])
    pd.testing.assert_frame_equal(built, pd.DataFrame.from_records(records), check_exact=True)
    for other in ([*records, {"a": 1.0, "b": 2.0}], [*records, {"b": 1, "a": 2.0}],
                  [*records, {"b": True, "a": 2.0}]):  # other key order, an int, a bool
        pd.testing.assert_frame_equal(serve.frame_from_payload(other, ["a", "b"]),
                                      pd.DataFrame.from_records(other), check_exact=True)


def test_numbers_are_checked_in_one_block_as_value_by_value() -> None:
    schema = {"columns": [
        {"name": "x", "dtype": "float64", "kind": "number", "nullable": False},
        {"name": "n", "dtype": "int64", "kind": "integer", "nullable": True},
        {"name": "dropped", "dtype": "float64", "kind": "integer", "used": False},
        {"name": "w", "dtype": "float64", "kind": "integer", "nullable": True},
    ]}
    good = pd.DataFrame({"x": [0.5, 1.5], "n": [1.0, 3.0], "dropped": [0.5, np.nan],
                         "w": [2.0, np.nan]})
    checked = serve.validate(good, schema)
    assert checked.dtypes.astype(str).tolist() == ["float64", "int64", "float64", "float64"]
    for column, value, message in [("x", np.nan, "must not be missing"),
                                   ("w", 2.5, "must be a whole number"),
                                   ("w", np.inf, "must be a whole number, got inf"),
                                   ("n", 0.5, "must be a whole number"),
                                   ("n", np.nan, "cannot convert to int64")]:
        bad = good.copy()
        bad.loc[1, column] = value
        with pytest.raises(serve.RequestError, match=message):
            serve.validate(bad, schema)


def test_the_request_log_holds_the_rows_as_pandas_writes_them(tmp_path: Any) -> None:
    frame = pd.DataFrame({"x": [1.123456789012345, np.nan], "text": ['a "},{" \n b', None],
                          "day": pd.to_datetime(["2024-01-02 03:04:05", None])})
    log = serve.RequestLog(tmp_path / "requests.jsonl")
    log.write(frame, [1, "no"], {"_request_id": "r1", "_latency_ms": 1.5})
    lines = [json.loads(line) for line in (tmp_path / "requests.jsonl").read_text().splitlines()]
    rows = json.loads(frame.to_json(orient="records", date_format="iso"))
    assert [{k: v for k, v in line.items() if k != "_ts"} for line in lines] == [
        {**rows[0], "_request_id": "r1", "_latency_ms": 1.5, "_prediction": 1},
        {**rows[1], "_request_id": "r1", "_latency_ms": 1.5, "_prediction": "no"}]
    assert lines[0]["day"] == "2024-01-02T03:04:05.000" and lines[1]["x"] is None
    assert list(lines[0]) == ["x", "text", "day", "_ts", "_request_id", "_latency_ms",
                              "_prediction"]
