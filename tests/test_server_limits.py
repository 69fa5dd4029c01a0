"""The REST door: every parameter and body bounded (400/413, never 500), and production
through REST decided like `promote` (gate, verification, reason, audit)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_server import failure, get, jp_server_config, seed, store_path  # noqa: F401
from tornado.httpclient import HTTPClientError

from jupyter_mlops import open_store
from jupyter_mlops.server.handlers import MAX_BODY_BYTES

pytest_plugins = ["pytest_jupyter.jupyter_server"]
HUGE = "9" * 40


@pytest.mark.parametrize("path, params, message", [
    (("runs",), {"offset": HUGE}, "offset must be between 0 and 1000000000"),
    (("runs",), {"offset": "9" * 5000}, "offset must be between"),
    (("runs",), {"limit": HUGE}, "limit must be between 1 and 1000"),
    (("runs",), {"limit": "1e3"}, "limit must be an integer"),
    (("runs",), {"q": "x" * 300}, "q is 300 characters long; at most 200"),
    (("runs",), {"experiment": "e" * 300}, "experiment is 300 characters long"),
    (("runs",), {"sort": "s" * 300}, "sort is 300 characters long"),
    (("events",), {"limit": HUGE}, "limit must be between"),
    (("events",), {"subject": "m" * 300}, "subject is 300 characters long"),
    (("changes",), {"since": f"1.0:3:{HUGE}"}, "since must be a cursor"),
    (("changes",), {"since": f"1.0:{HUGE}:1"}, "since must be a cursor"),
    (("changes",), {"since": "nan:3:1"}, "since must be a cursor"),
    (("changes",), {"since": "1e999:3:1"}, "since must be a cursor"),
    (("keys",), {"q": "x" * 300}, "q is 300 characters long; at most 200"),
    (("keys",), {"experiment": "e" * 300}, "experiment is 300 characters long"),
    (("compare",), {"runs": ",".join(["01TRAIN"] * 101)}, "at most 100 runs can be compared"),
    (("compare",), {"runs": "R" * 5000}, "runs is 5000 characters long"),
    (("runs", "01TRAIN", "gate"), {"expression": "not " * 2500 + "acc>0"},
     "expression is 10005 characters long"),
    (("runs", "R" * 300), {}, "run_id is 300 characters long"),
    (("runs", "01TRAIN", "metrics", "k" * 300), {}, "key is 300 characters long"),
])
async def test_oversized_parameters_are_400(jp_fetch: Any, store_path: Path,  # noqa: F811
                                            path: tuple[str, ...], params: dict[str, str],
                                            message: str) -> None:
    seed(store_path)
    code, text = await failure(jp_fetch, *path, **params)
    assert (code, message in text) == (400, True), text


async def post(jp_fetch: Any, *path: str, body: Any = None, raw: bytes | None = None,
               headers: dict[str, str] | None = None) -> tuple[int, Any]:
    try:
        response = await jp_fetch("jupyter-mlops", "api", *path, method="POST",
                                  body=raw if raw is not None else json.dumps(body),
                                  headers=headers or {})
    except HTTPClientError as error:
        assert error.response is not None
        return error.code, json.loads(error.response.body)["message"]
    return response.code, json.loads(response.body)


STAGE = ("models", "demo-model", "versions", "1", "stage")


async def test_bad_bodies_are_4xx(jp_fetch: Any, store_path: Path) -> None:  # noqa: F811
    seed(store_path)
    cases = [
        (STAGE[:-2] + (HUGE, "stage"), {"stage": "staging"}, 400, "version must be between"),
        (STAGE, {"stage": "staging", "reason": "r" * (MAX_BODY_BYTES + 1)}, 413,
         f"larger than {MAX_BODY_BYTES} bytes"),
        (STAGE, {"stage": "staging", "reason": "r" * 3000}, 400,
         "reason is 3000 characters long; at most 2000"),
        (STAGE, {"stage": {"not": "text"}}, 400, "stage must be a string, got dict"),
        (STAGE, {"stage": "production", "reason": "x", "force": "yes"}, 400,
         "force must be true or false"),
        (STAGE, {"stage": "staging", "stgae": "production"}, 400, "unknown field(s) 'stgae'"),
        (STAGE[:-2], {"run_id": "01TRAIN", "gate": {"acc": 1}}, 400,
         "gate must be a string, got dict"),
        (STAGE[:-2], {"run_id": "01TRAIN", "gate": "not " * 500 + "acc>0"}, 400,
         "gate is 2005 characters long; at most 1000"),
        (STAGE[:-2], {"run_id": "01TRAIN", "gate": "not " * 200 + "acc>0"}, 400,
         "nests more than 50 levels"),
        (STAGE[:-2], {"run_id": ["01TRAIN"]}, 400, "run_id must be a string, got list"),
    ]
    for path, body, status, message in cases:
        code, text = await post(jp_fetch, *path, body=body)
        assert (code, message in str(text)) == (status, True), (body, text)
    for raw in (b"[" * 30_000 + b"]" * 30_000, b"[" * 20_000):  # under the size limit
        code, text = await post(jp_fetch, *STAGE, raw=raw)
        assert code == 400 and "not valid JSON" in text


async def test_a_chunked_body_past_the_limit_is_413(jp_fetch: Any,
                                                    store_path: Path) -> None:  # noqa: F811
    seed(store_path)

    async def chunks(write: Any) -> None:
        for _ in range(40):  # 40 x 4 KB, with no Content-Length
            await write(b" " * 4096)
        await write(b'{"stage": "staging"}')

    try:
        await jp_fetch("jupyter-mlops", "api", *STAGE, method="POST", body_producer=chunks,
                       headers={"Transfer-Encoding": "chunked"})
        raise AssertionError("accepted")
    except HTTPClientError as error:
        code, text = error.code, json.loads(error.response.body)["message"]
    assert code == 413 and "larger than" in text
    with open_store(store_path) as store:
        assert store.events("demo-model/1")[0].detail["to"] == "staging"  # nothing moved


async def test_production_through_rest_is_gated_verified_and_reasoned(
    jp_fetch: Any, store_path: Path  # noqa: F811
) -> None:
    seed(store_path)
    code, text = await post(jp_fetch, *STAGE, body={"stage": "production", "verify": False})
    assert code == 409 and "needs a reason" in text
    code, text = await post(jp_fetch, *STAGE, body={"stage": "production", "reason": "go",
                                                    "gate": "acc >= 0.95", "verify": False})
    assert code == 409 and "acc >= 0.95: 0.9 (FAILED" in text
    code, text = await post(jp_fetch, *STAGE, body={"stage": "production", "reason": "go"})
    assert code == 409 and "verification" in text, text  # verified by default, as promote does
    # a version registered through a gate is re-checked by that gate on its way to production
    code, v2 = await post(jp_fetch, *STAGE[:-2], body={"run_id": "01TRAIN", "stage": "staging",
                                                       "gate": "acc >= 0.8"})
    assert code == 201 and v2["version"] == 2
    code, moved = await post(jp_fetch, "models", "demo-model", "versions", "2", "stage",
                             body={"stage": "production", "reason": "checked",
                                   "verify": False})
    assert code == 200 and moved["stage"] == "production"
    assert moved["checks"]["gate"]["expression"] == "acc >= 0.8"
    assert moved["checks"]["gate"]["passed"] and not moved["checks"]["forced"]
    assert moved["checks"]["verification"] == "skipped (verify=False)"
    # an alias needs none of that, and says no gate ran
    code, aliased = await post(jp_fetch, *STAGE, body={"stage": "champion"})
    assert code == 200 and aliased["checks"] == {"gate": None, "forced": False,
                                                 "verification": None}
    events = (await get(jp_fetch, "events", subject="demo-model"))["events"]
    moves = [e for e in events if e["action"] == "transition" and e["detail"]["to"] ==
             "production"]
    assert moves[0]["subject"] == "demo-model/2" and moves[0]["reason"] == "checked"
    assert moves[0]["detail"]["gate"]["expression"] == "acc >= 0.8"
    refusals = [e for e in events if e["action"] == "promotion-refused"]
    assert len(refusals) == 2  # the failed gate and the failed verification, both audited
    with open_store(store_path) as store:
        assert store.load_model("demo-model@production") is not None
