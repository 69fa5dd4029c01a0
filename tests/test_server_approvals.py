"""Approvals over REST, with several users of one real Jupyter Server: the identity is the
server's (an IdentityProvider mapping tokens to users), the authorization jupyter_server's
(an Authorizer over our resources)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.auth import Authorizer, IdentityProvider, User
from test_server import seed
from tornado.httpclient import HTTPClientError

from jupyter_mlops import open_store
from jupyter_mlops.lifecycle import approvals
from jupyter_mlops.server.handlers import APPROVALS

pytest_plugins = ["pytest_jupyter.jupyter_server"]

TOKENS = {"alice-token": "alice", "bob-token": "bob", "carol-token": "carol",
          "mallory-token": "mallory", "dave-token": "dave"}
GROUPS = {"dave": ["leads", "staff"]}  # what the identity says of a user's groups


@dataclass
class GroupUser(User):
    """A user with the groups an identity provider (a login service) knows."""

    groups: list[str] = field(default_factory=list)


class TokenUsers(IdentityProvider):
    """Each token is one user (as JupyterHub or a login service would tell users apart)."""

    async def get_user_token(self, handler: Any) -> User | None:  # type: ignore[override]
        name = TOKENS.get(self.get_token(handler) or "")
        return GroupUser(name, groups=GROUPS.get(name, [])) if name else None


class NoApprovalsForMallory(Authorizer):
    """A deployment's rule over our resources: mallory may read and promote, not decide."""

    def is_authorized(self, handler: Any, user: User, action: str, resource: str) -> bool:
        return not (user.username == "mallory" and resource == APPROVALS)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "server-store"


@pytest.fixture
def jp_server_config(store_path: Path) -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True},
                          "identity_provider_class": TokenUsers,
                          "authorizer_class": NoApprovalsForMallory},
            "MLOpsServer": {"store_path": str(store_path)}}


async def call(jp_fetch: Any, user: str, *path: str, body: Any = None) -> tuple[int, Any]:
    """(status, JSON answer) of a request made as ``user``."""
    kwargs: dict[str, Any] = {"headers": {"Authorization": f"token {user}-token"}}
    if body is not None:
        kwargs.update(method="POST", body=json.dumps(body))
    try:
        response = await jp_fetch("jupyter-mlops", "api", *path, **kwargs)
    except HTTPClientError as exc:
        assert exc.response is not None
        return exc.code, json.loads(exc.response.body or b"{}")
    return response.code, json.loads(response.body)


async def test_requester_cannot_approve_an_approver_can(jp_fetch: Any, store_path: Path) -> None:
    seed(store_path)
    with open_store(store_path) as store:
        approvals.set_policy("production", allowed=["bob", "carol"], store=store, actor="admin")
    # alice asks to move demo-model/1 to production: it waits, the answer says so (202)
    code, asked = await call(jp_fetch, "alice", "models", "demo-model", "versions", "1",
                             "stage", body={"stage": "production", "reason": "ship it",
                                            "verify": False})
    assert code == 202 and asked["stage"] == "staging"
    request = asked["request"]
    assert (request["requested_by"], request["status"], request["missing"]) == (
        "alice", "pending", 1)
    code, listed = await call(jp_fetch, "carol", "approvals")
    assert code == 200 and [r["id"] for r in listed["requests"]] == [request["id"]]
    assert listed["user"] == "carol" and listed["policies"][0]["allowed"] == ["bob", "carol"]
    number = str(request["id"])
    # the requester may not approve it; a user the policy does not name may not either;
    # a user the server's authorizer refuses gets 403 before the policy is asked
    code, answer = await call(jp_fetch, "alice", "approvals", number, "approve", body={})
    assert code == 403 and "alice asked for this move" in answer["message"]
    code, answer = await call(jp_fetch, "mallory", "approvals", number, "approve", body={})
    assert code == 403 and "not authorized to write on resource: mlops-approvals" in \
        answer["message"]
    with open_store(store_path) as store:  # mallory may read, though
        approvals.set_policy("staging", store=store, actor="admin")
    assert (await call(jp_fetch, "mallory", "approvals"))[0] == 200
    code, answer = await call(jp_fetch, "bob", "approvals", number, "approve",
                              body={"reason": "checked"})
    assert code == 200, answer
    assert answer["request"]["status"] == "applied" and answer["version"]["stage"] == \
        "production"
    with open_store(store_path) as store:
        events = [(e.actor, e.action) for e in reversed(store.events("demo-model/1"))]
        assert events[-4:] == [("alice", "approval-requested"), ("bob", "approval"),
                               ("bob", "transition"), ("bob", "approval-applied")]
        assert store.check() == []
    code, answer = await call(jp_fetch, "carol", "approvals", number, "reject", body={})
    assert code == 409 and "is applied" in answer["message"]


async def test_promote_and_reject_as_server_users(jp_fetch: Any, store_path: Path) -> None:
    seed(store_path)
    with open_store(store_path) as store:
        approvals.set_policy("production", store=store, actor="admin")
    code, version = await call(jp_fetch, "alice", "models", "demo-model", "versions",
                               body={"run_id": "01TRAIN", "stage": "production",
                                     "reason": "retrained", "verify": False})
    assert code == 202 and version["stage"] is None and version["created_by"] == "alice"
    number = str(version["pending"]["request"])
    code, answer = await call(jp_fetch, "bob", "approvals", number, "reject",
                              body={"reason": "wait for the May data"})
    assert code == 200 and answer["request"]["status"] == "rejected"
    assert answer["version"] is None
    code, listed = await call(jp_fetch, "bob", "approvals")
    assert listed["requests"] == []
    with open_store(store_path) as store:
        last = store.events("demo-model/2")[0]
        assert (last.actor, last.action, last.reason) == ("bob", "rejection",
                                                          "wait for the May data")
    for path, body, status in (
            (("approvals", "99", "approve"), {}, 404),
            (("approvals", "1", "approve"), {"why": "x"}, 400),
            (("approvals", "1", "approve"), {"reason": "x" * 3000}, 400),
            (("approvals", "1", "ignore"), {}, 405)):  # no such route takes a POST
        code, answer = await call(jp_fetch, "carol", *path, body=body)
        assert code == status, (path, answer)


async def test_no_identity_is_403(jp_fetch: Any, store_path: Path) -> None:
    seed(store_path)
    code, _ = await call(jp_fetch, "nobody", "approvals")
    assert code == 403


async def test_a_policy_naming_a_group_the_identity_gives(jp_fetch: Any, store_path: Path
                                                         ) -> None:
    seed(store_path)
    with open_store(store_path) as store:
        approvals.set_policy("production", allowed=["@leads"], store=store, actor="admin")
    code, asked = await call(jp_fetch, "alice", "models", "demo-model", "versions", "1",
                             "stage", body={"stage": "production", "reason": "ship it",
                                            "verify": False})
    assert code == 202
    number = str(asked["request"]["id"])
    # the listing says who may decide: dave, a lead by his identity; not carol
    code, listed = await call(jp_fetch, "dave", "approvals")
    assert listed["groups"] == ["leads", "staff"] and listed["requests"][0]["refusal"] is None
    code, listed = await call(jp_fetch, "carol", "approvals")
    assert "carol may not approve moves to production: the policy allows @leads" in \
        listed["requests"][0]["refusal"]
    code, answer = await call(jp_fetch, "carol", "approvals", number, "approve", body={})
    assert code == 403
    code, answer = await call(jp_fetch, "dave", "approvals", number, "approve", body={})
    assert code == 200 and answer["request"]["status"] == "applied", answer
    with open_store(store_path) as store:
        vote = next(e for e in store.events("demo-model/1") if e.action == "approval")
        assert (vote.actor, vote.detail["as"]) == ("dave", "@leads")
