"""The REST API, through a real Jupyter Server with authentication on (pytest-jupyter)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_mlops import open_store
from jupyter_mlops.entities import Entity
from jupyter_mlops.store import RunResult

pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "server-store"


@pytest.fixture
def jp_server_config(store_path: Path) -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True}},
            "MLOpsServer": {"store_path": str(store_path)}}


def seed(store_path: Path) -> dict[str, str]:
    """Two experiments, a data → model chain, a failed run, and a model with a version."""
    from sklearn.linear_model import LogisticRegression

    from jupyter_mlops.frameworks.serialize import dump_model, fingerprint_model
    from jupyter_mlops.store import ModelInfo
    from jupyter_mlops.store.registry import register_version

    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    data, fmt, trusted = dump_model(model)
    fingerprint = fingerprint_model(model)
    t = time.time()
    with open_store(store_path) as store:
        def run(run_id: str, name: str, experiment: str, started: float, **result: Any) -> None:
            store.start_run(run_id, name=name, experiment=experiment, source=f"# {name}",
                            source_hash="h", started_at=started)
            store.finish_run(run_id, RunResult(**{"status": "finished", "ended_at": started + 1,
                                                  **result}))

        run("01PREP", "prep", "demo", t, outputs=[Entity("dataset", "clean", "data:c")])
        run("01TRAIN", "train", "demo", t + 1, params={"C": 1.0},
            metrics=[("loss", 0.5, 0, t), ("loss", 0.25, 1, t), ("acc", 0.9, 0, t)],
            inputs=[Entity("dataset", "clean", "data:c")],
            outputs=[Entity("model", "model", fingerprint, {"class": "LogisticRegression"})],
            models=[ModelInfo(fingerprint, "LogisticRegression", "sklearn", data, fmt,
                              trusted)])
        run("01FAIL", "broken", "other", t + 2, status="failed", error="ValueError: no")
        register_version(store, name="demo-model", run_id="01TRAIN",
                         model_fingerprint=fingerprint, model_variable="model", actor="test",
                         label="staging", reason="seeded")
    return {"prep": "01PREP", "train": "01TRAIN", "fail": "01FAIL"}


async def get(jp_fetch: Any, *path: str, **params: Any) -> Any:
    response = await jp_fetch("jupyter-mlops", "api", *path, params=params or None)
    assert response.code == 200
    return json.loads(response.body)


async def failure(jp_fetch: Any, *path: str, method: str = "GET", body: Any = None,
                  **params: Any) -> tuple[int, str]:
    kwargs: dict[str, Any] = {"method": method, "params": params or None}
    if body is not None:
        kwargs["body"] = json.dumps(body)
    with pytest.raises(HTTPClientError) as raised:
        await jp_fetch("jupyter-mlops", "api", *path, **kwargs)
    response = raised.value.response
    message = json.loads(response.body)["message"] if response and response.body else ""
    return raised.value.code, message


async def test_experiments_and_runs_listing(jp_fetch: Any, store_path: Path) -> None:
    seed(store_path)
    experiments = await get(jp_fetch, "experiments")
    assert {e["name"]: e["runs"] for e in experiments["experiments"]} == {"demo": 2, "other": 1}
    page = await get(jp_fetch, "runs")
    assert page["total"] == 3 and [r["name"] for r in page["runs"]] == ["broken", "train", "prep"]
    train = page["runs"][1]
    assert train["params"] == {"C": 1.0} and train["metrics"] == {"loss": 0.25, "acc": 0.9}
    assert (await get(jp_fetch, "runs", experiment="demo"))["total"] == 2
    assert [r["name"] for r in (await get(jp_fetch, "runs", status="failed"))["runs"]] == [
        "broken"]
    assert [r["name"] for r in (await get(jp_fetch, "runs", q="rai"))["runs"]] == ["train"]
    by_metric = await get(jp_fetch, "runs", sort="metrics.acc", order="desc")
    assert by_metric["runs"][0]["name"] == "train"


@pytest.mark.parametrize("params, message", [
    ({"limit": "many"}, "limit must be an integer"),
    ({"limit": "0"}, "limit must be between 1 and 1000"),
    ({"limit": "5000"}, "limit must be between 1 and 1000"),
    ({"offset": "-1"}, "offset must be between"),
    ({"order": "sideways"}, "order must be asc or desc"),
    ({"sort": "size"}, "cannot sort runs by 'size'"),
    ({"status": "done"}, "unknown status 'done'"),
])
async def test_bad_parameters_are_400_with_a_message(
    jp_fetch: Any, store_path: Path, params: dict[str, str], message: str
) -> None:
    seed(store_path)
    code, text = await failure(jp_fetch, "runs", **params)
    assert code == 400 and message in text


async def test_run_detail_lineage_and_metric_history(jp_fetch: Any, store_path: Path) -> None:
    ids = seed(store_path)
    run = await get(jp_fetch, "runs", ids["train"])
    assert run["name"] == "train" and run["source"] == "# train"
    assert run["inputs"][0]["fingerprint"] == "data:c" and run["outputs"][0]["kind"] == "model"
    assert (await get(jp_fetch, "runs", "train"))["run_id"] == ids["train"]  # by name
    graph = await get(jp_fetch, "runs", ids["train"], "lineage")
    assert {n["id"] for n in graph["nodes"]} >= {"run:01PREP", "run:01TRAIN", "data:c"}
    assert {"source": "data:c", "target": "run:01TRAIN"} in graph["edges"]
    history = await get(jp_fetch, "runs", ids["train"], "metrics", "loss")
    assert [(p["step"], p["value"]) for p in history["points"]] == [(0, 0.5), (1, 0.25)]


async def test_unknown_things_are_404(jp_fetch: Any, store_path: Path) -> None:
    seed(store_path)
    for path in (("runs", "NOPE"), ("runs", "NOPE", "lineage"), ("runs", "01TRAIN", "metrics",
                 "nope"), ("models", "nope"), ("no", "such", "endpoint")):
        code, message = await failure(jp_fetch, *path)
        assert code == 404 and message, path


async def test_no_token_is_403(jp_fetch: Any, store_path: Path) -> None:
    seed(store_path)
    for method, body in (("GET", None), ("POST", json.dumps({"run_id": "01TRAIN"}))):
        with pytest.raises(HTTPClientError) as raised:
            await jp_fetch("jupyter-mlops", "api", "models", "demo-model", "versions"
                           if method == "POST" else "", method=method, body=body,
                           headers={"Authorization": ""})
        assert raised.value.code == 403


async def test_cookie_session_post_without_xsrf_is_403(jp_fetch: Any, store_path: Path,
                                                        jp_serverapp: Any) -> None:
    seed(store_path)
    token = jp_serverapp.identity_provider.token
    login = await jp_fetch("jupyter-mlops", "api", "models", params={"token": token},
                           headers={"Authorization": ""})
    cookies = "; ".join(c.split(";")[0] for c in login.headers.get_list("Set-Cookie"))
    assert "username" in cookies  # a browser-like session, authenticated by cookie
    listed = await jp_fetch("jupyter-mlops", "api", "models",
                            headers={"Authorization": "", "Cookie": cookies})
    assert listed.code == 200
    with pytest.raises(HTTPClientError) as raised:
        await jp_fetch("jupyter-mlops", "api", "models", "demo-model", "versions",
                       method="POST", body=json.dumps({"run_id": "01TRAIN"}),
                       headers={"Authorization": "", "Cookie": cookies})
    assert raised.value.code == 403
    assert "_xsrf" in json.loads(raised.value.response.body)["message"]


async def test_models_promote_and_transition_round_trip(jp_fetch: Any, store_path: Path) -> None:
    seed(store_path)
    models = await get(jp_fetch, "models")
    assert models["models"][0]["name"] == "demo-model"
    assert models["models"][0]["versions"][0]["stage"] == "staging"
    assert models["models"][0]["versions"][0]["run_name"] == "train"
    created = await jp_fetch("jupyter-mlops", "api", "models", "demo-model", "versions",
                             method="POST", body=json.dumps({
                                 "run_id": "01TRAIN", "stage": "production",
                                 "gate": "acc >= 0.8", "reason": "from the sidebar",
                                 "verify": False}))
    version = json.loads(created.body)
    assert created.code == 201 and version["version"] == 2 and version["stage"] == "production"
    assert version["run_name"] == "train"
    code, message = await failure(jp_fetch, "models", "demo-model", "versions", method="POST",
                                  body={"run_id": "01TRAIN", "gate": "acc >= 0.99"})
    assert code == 409 and "acc >= 0.99: 0.9 (FAILED, off by 0.09)" in message
    code, message = await failure(jp_fetch, "models", "demo-model", "versions", method="POST",
                                  body={"run_id": "01TRAIN", "gate": "acc >>= 1"})
    assert code == 400 and "not a valid expression" in message
    code, message = await failure(jp_fetch, "models", "demo-model", "versions", method="POST",
                                  body={"stage": "staging"})
    assert code == 400 and "run_id" in message
    moved = await jp_fetch("jupyter-mlops", "api", "models", "demo-model", "versions", "1",
                           "stage", method="POST",
                           body=json.dumps({"stage": "champion", "reason": "best so far"}))
    assert json.loads(moved.body)["aliases"] == ["champion"]
    assert json.loads(moved.body)["run_name"] == "train"
    code, _ = await failure(jp_fetch, "models", "demo-model", "versions", "9", "stage",
                            method="POST", body={"stage": "staging"})
    assert code == 404
    events = (await get(jp_fetch, "events", subject="demo-model"))["events"]
    actions = [e["action"] for e in events]
    assert {"register", "transition", "alias", "promotion-refused"} <= set(actions)
    assert events[0]["seq"] > events[-1]["seq"]


def test_model_versions_name_their_runs_from_one_query(store_path: Path) -> None:
    from jupyter_mlops.server.handlers import model_payload
    from jupyter_mlops.store.registry import register_version

    seed(store_path)
    with open_store(store_path) as store:
        register_version(store, name="demo-model", run_id="01PREP", model_fingerprint="model:p",
                         model_variable="model", actor="test")
        statements: list[str] = []
        store.conn.set_trace_callback(statements.append)
        models = model_payload(store)
    assert [(v["version"], v["run_id"], v["run_name"]) for v in models[0]["versions"]] == [
        (2, "01PREP", "prep"), (1, "01TRAIN", "train")]
    assert len([s for s in statements if "FROM runs" in s]) == 1


async def test_changes_cursor(jp_fetch: Any, store_path: Path) -> None:
    seed(store_path)
    first = await get(jp_fetch, "changes")
    assert first["changed"] and set(first["runs"]) == {"01PREP", "01TRAIN", "01FAIL"}
    quiet = await get(jp_fetch, "changes", since=first["cursor"])
    assert not quiet["changed"] and quiet["runs"] == []
    with open_store(store_path) as store:
        store.start_run("01NEW", name="new", experiment="demo", source="", source_hash="",
                        started_at=time.time())
    changed = await get(jp_fetch, "changes", since=first["cursor"])
    assert changed["changed"] and changed["runs"] == ["01NEW"]
    code, message = await failure(jp_fetch, "changes", since="garbage")
    assert code == 400 and "cursor" in message


async def test_pagination_over_ten_thousand_runs(jp_fetch: Any, store_path: Path) -> None:
    with open_store(store_path) as store, store.transaction() as conn:
        conn.execute("INSERT INTO experiments (id, name, created_at) VALUES (1, 'bulk', 0)")
        conn.executemany(
            "INSERT INTO runs (run_id, experiment_id, name, status, started_at, updated_at, "
            "metrics_json) VALUES (?, 1, ?, 'finished', ?, ?, ?)",
            [(f"R{i:05d}", f"run-{i}", float(i), float(i), json.dumps({"acc": i / 10_000}))
             for i in range(10_000)])
    seen: list[str] = []
    offset = 0
    while True:
        page = await get(jp_fetch, "runs", limit="1000", offset=str(offset))
        assert page["total"] == 10_000
        if not page["runs"]:
            break
        seen += [r["run_id"] for r in page["runs"]]
        offset += 1000
    assert len(seen) == len(set(seen)) == 10_000 and seen[0] == "R09999"


async def test_unreadable_store_is_503(jp_fetch: Any, store_path: Path) -> None:
    store_path.mkdir(parents=True)
    (store_path / "lineage.db").write_bytes(b"not sqlite" * 100)
    code, message = await failure(jp_fetch, "runs")
    assert code == 503 and "not a readable jupyter-mlops store" in message


def test_openapi_describes_every_route() -> None:
    import re

    import yaml

    from jupyter_mlops.server import handlers

    spec = yaml.safe_load((Path(handlers.__file__).parent / "api.yml").read_text())
    documented = set(spec["paths"])
    source = Path(handlers.__file__).read_text()
    table = source[source.index("routes = ["):]
    routes = re.findall(r'\([fr]?"([^"]+)", (\w+)Handler\)', table)
    served = {"/" + re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", path.replace("{RUN}", "{run_id}"))
              for path, name in routes if name != "NotFound"}
    assert served == documented


def decoded(array: Any) -> Any:
    import base64

    import numpy as np

    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return array


async def test_compare_puts_runs_side_by_side_with_plotly_figures(
    jp_fetch: Any, store_path: Path
) -> None:
    ids = seed(store_path)
    with open_store(store_path) as store:
        store.start_run("01TRAIN2", name="train", experiment="demo", source="# t",
                        source_hash="h", started_at=time.time() + 5)
        store.finish_run("01TRAIN2", RunResult(
            status="finished", ended_at=time.time() + 6, params={"C": 10.0},
            metrics=[("loss", 0.6, 0, 0.0), ("loss", 0.4, 1, 0.0), ("acc", 0.8, 0, 0.0)]))
    payload = await get(jp_fetch, "compare", runs=f"{ids['train']},01TRAIN2,{ids['prep']}")
    assert [r["run_id"] for r in payload["runs"]] == ["01TRAIN", "01TRAIN2", "01PREP"]
    assert payload["params"] == [{"key": "C", "values": [1.0, 10.0, None], "differs": True}]
    assert {"key": "acc", "values": [0.9, 0.8, None], "differs": True} in payload["metrics"]
    (curve,) = payload["curves"]
    # numpy arrays travel as plotly's typed arrays (base64), which plotly.js reads as they are
    assert [list(decoded(t["y"])) for t in curve["data"]] == [[0.5, 0.25], [0.6, 0.4]]
    assert curve["data"][0]["type"] == "scatter"
    assert curve["layout"]["xaxis"]["title"]["text"] == "step"
    assert payload["parallel"]["data"][0]["type"] == "parcoords"
    dark = await get(jp_fetch, "compare", runs=f"{ids['train']},01TRAIN2", theme="dark")
    assert dark["curves"][0]["layout"]["template"]["layout"]["font"]["color"] == "#f2f5fa"
    assert "template" not in curve["layout"] or curve["layout"]["template"] != dark["curves"][0][
        "layout"]["template"]
    assert (await failure(jp_fetch, "compare", runs=ids["train"]))[0] == 400
    assert (await failure(jp_fetch, "compare", runs=f"{ids['train']},nope"))[0] == 404


async def test_keys_cover_every_filtered_run_not_a_page(jp_fetch: Any, store_path: Path) -> None:
    seed(store_path)
    with open_store(store_path) as store:
        store.start_run("01OTHER", name="ridge", experiment="other", source="# r",
                        source_hash="h", started_at=time.time() + 5)
        store.finish_run("01OTHER", RunResult(status="finished", ended_at=time.time() + 6,
                                              params={"alpha": 1.0},
                                              metrics=[("rmse", 3.0, 0, 0.0)]))
    assert await get(jp_fetch, "keys") == {"metrics": ["acc", "loss", "rmse"],
                                           "params": ["C", "alpha"]}
    assert await get(jp_fetch, "keys", experiment="other") == {"metrics": ["rmse"],
                                                               "params": ["alpha"]}
    assert await get(jp_fetch, "keys", q="train") == {"metrics": ["acc", "loss"],
                                                      "params": ["C"]}
    assert (await failure(jp_fetch, "keys", status="bogus"))[0] == 400


async def test_gate_preview_is_the_promotion_decision(jp_fetch: Any, store_path: Path) -> None:
    ids = seed(store_path)
    result = await get(jp_fetch, "runs", ids["train"], "gate", expression="acc>=0.95")
    assert result == {"expression": "acc>=0.95", "passed": False, "conditions": [
        {"text": "acc >= 0.95", "value": 0.9, "threshold": 0.95, "passed": False}]}
    passed = await get(jp_fetch, "runs", ids["train"], "gate", expression="acc>0.5 and loss<1")
    assert passed["passed"] is True and len(passed["conditions"]) == 2
    code, message = await failure(jp_fetch, "runs", ids["train"], "gate", expression="f1>0.5")
    assert code == 400 and "f1" in message
    assert (await failure(jp_fetch, "runs", ids["train"], "gate", expression="champion"))[0] == 400
    code, message = await failure(jp_fetch, "runs", ids["train"], "gate", expression="rollout")
    assert code == 400 and "--gate rollout --labels FILE" in message
    assert (await failure(jp_fetch, "runs", ids["train"], "gate"))[0] == 400


async def send(jp_fetch: Any, method: str, *path: str, body: Any = None) -> Any:
    response = await jp_fetch("jupyter-mlops", "api", *path, method=method,
                              body=None if body is None else json.dumps(body))
    assert response.code == 200
    return json.loads(response.body)


async def test_patch_tags_note_and_archive_a_run(jp_fetch: Any, store_path: Path) -> None:
    seed(store_path)
    run = await send(jp_fetch, "PATCH", "runs", "01TRAIN",
                     body={"tags": {"owner": "alice", "stage": "draft"}, "note": "first cut"})
    assert run["tags"] == {"owner": "alice", "stage": "draft"} and run["note"] == "first cut"
    found = await get(jp_fetch, "runs", q="owner:alice")
    assert [r["run_id"] for r in found["runs"]] == ["01TRAIN"]
    run = await send(jp_fetch, "PATCH", "runs", "01TRAIN",
                     body={"remove_tags": ["stage"], "note": "", "archived": True})
    assert run["tags"] == {"owner": "alice"} and run["note"] is None and run["archived_at"]
    listed = await get(jp_fetch, "runs")
    assert listed["total"] == 2 and "01TRAIN" not in [r["run_id"] for r in listed["runs"]]
    assert "acc" not in (await get(jp_fetch, "keys"))["metrics"]
    experiments = (await get(jp_fetch, "experiments"))["experiments"]
    assert {e["name"]: (e["runs"], e["archived"]) for e in experiments} == {
        "demo": (1, 1), "other": (1, 0)}
    only = await get(jp_fetch, "runs", archived="only")
    assert [(r["run_id"], bool(r["archived_at"])) for r in only["runs"]] == [("01TRAIN", True)]
    assert (await get(jp_fetch, "runs", archived="include"))["total"] == 3
    assert "acc" in (await get(jp_fetch, "keys", archived="include"))["metrics"]
    restored = await send(jp_fetch, "PATCH", "runs", "01TRAIN", body={"archived": False})
    assert restored["archived_at"] is None and (await get(jp_fetch, "runs"))["total"] == 3
    events = (await get(jp_fetch, "events", subject="run:01TRAIN"))["events"]
    assert [e["action"] for e in events] == ["restore", "archive", "note", "tag", "note", "tag"]


@pytest.mark.parametrize("body, message", [
    ({"colour": "red"}, "unknown field(s) 'colour'"),
    ({"tags": ["owner"]}, "tags must be a JSON object"),
    ({"tags": {"owner": 3}}, "an item of tags must be a string"),
    ({"tags": {"1st": "x"}}, "invalid tag key '1st'"),
    ({"tags": {"owner": "a\nb"}}, "on one line"),
    ({"tags": {f"k{i}": "v" for i in range(101)}}, "tags has 101 items; at most 100"),
    ({"remove_tags": "owner"}, "remove_tags must be a JSON array"),
    ({"tags": {"k": "v"}, "remove_tags": ["k"]}, "both set and removed"),
    ({"note": "x" * 10_001}, "note is 10001 characters long; at most 10000"),
    ({"note": 42}, "note must be a string"),
    ({"archived": "yes"}, "archived must be true or false"),
])
async def test_patch_refuses_bad_bodies_and_changes_nothing(
    jp_fetch: Any, store_path: Path, body: dict[str, Any], message: str
) -> None:
    seed(store_path)
    code, text = await failure(jp_fetch, "runs", "01TRAIN", method="PATCH", body=body)
    assert code == 400 and message in text, text
    run = await get(jp_fetch, "runs", "01TRAIN")
    assert run["tags"] == {} and run["note"] is None and run["archived_at"] is None
    assert (await get(jp_fetch, "events", subject="run:01TRAIN"))["events"] == []


async def test_patch_limits_unknown_runs_and_listing_option(jp_fetch: Any,
                                                           store_path: Path) -> None:
    seed(store_path)
    code, _ = await failure(jp_fetch, "runs", "01OTHERSTORE", method="PATCH",
                            body={"note": "x"})
    assert code == 404
    code, _ = await failure(jp_fetch, "runs", "01TRAIN", method="PATCH",
                            body={"note": "x" * 70_000})
    assert code == 413
    code, message = await failure(jp_fetch, "runs", archived="yes")
    assert code == 400 and "archived='yes'" in message


async def test_delete_a_run_refusing_registered_running_and_names(jp_fetch: Any,
                                                                  store_path: Path) -> None:
    seed(store_path)
    code, message = await failure(jp_fetch, "runs", "01TRAIN", method="DELETE")
    assert code == 409 and "demo-model/1 (staging)" in message
    code, message = await failure(jp_fetch, "runs", "prep", method="DELETE")
    assert code == 409 and "delete takes run ids" in message
    code, _ = await failure(jp_fetch, "runs", "01NOPE", method="DELETE")
    assert code == 404
    with open_store(store_path) as store:
        store.start_run("01LIVE", name="live", experiment="demo", source="", source_hash="",
                        started_at=time.time())
    code, message = await failure(jp_fetch, "runs", "01LIVE", method="DELETE")
    assert code == 409 and "still running" in message
    assert await send(jp_fetch, "DELETE", "runs", "01PREP") == {"deleted": ["01PREP"]}
    code, _ = await failure(jp_fetch, "runs", "01PREP")
    assert code == 404
    assert (await get(jp_fetch, "runs"))["total"] == 3  # train, broken, live
    events = (await get(jp_fetch, "events", subject="run:01PREP"))["events"]
    assert [e["action"] for e in events] == ["delete-run"]
