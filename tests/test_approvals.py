"""Approval policies and requests: the Python API and the command line, on real stores."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import run_workers
from test_bundle import churn  # noqa: F401  (the trained churn model)
from test_server import seed

from jupyter_mlops import Store, open_store
from jupyter_mlops.errors import ApprovalError, NotAllowedError, PromotionError
from jupyter_mlops.lifecycle import approvals
from jupyter_mlops.lifecycle.promotion import move_version, promote
from jupyter_mlops.store import approvals as records
from jupyter_mlops.store.registry import get_version


@pytest.fixture
def seeded(store_dir: Path) -> Iterator[Store]:
    """A store with demo-model/1 in staging (run 01TRAIN, metric acc 0.9)."""
    seed(store_dir)
    with open_store(store_dir) as store:
        yield store


def actions(store: Store, subject: str = "demo-model") -> list[tuple[str, str]]:
    """(actor, action) of the subject's events, oldest first."""
    return [(e.actor, e.action) for e in reversed(store.events(subject))]


def test_without_a_policy_moves_are_immediate(seeded: Store) -> None:
    moved = move_version("demo-model", 1, "production", "ship", verify=False, store=seeded,
                         actor="alice")
    assert moved.pending is None and moved.version.stage == "production"


def test_promote_to_a_guarded_stage_waits_for_another_user(seeded: Store) -> None:
    approvals.set_policy("production", store=seeded, actor="admin", reason="four eyes")
    version = promote("01TRAIN", name="demo-model", stage="production", reason="better",
                      verify=False, store=seeded, actor="alice")
    # Given a policy, the version is registered but not moved: a request waits.
    assert version.stage is None and version.pending is not None
    assert version.pending["stage"] == "production"
    request_id = version.pending["request"]
    with pytest.raises(NotAllowedError, match="alice asked for this move"):
        approvals.approve(request_id, store=seeded, actor="alice")
    assert get_version(seeded, "demo-model/2").stage is None
    decision = approvals.approve(request_id, store=seeded, actor="bob", reason="checked")
    assert decision.request.status == "applied" and decision.request.approved_by == ["bob"]
    assert decision.move is not None and decision.move.version.stage == "production"
    assert get_version(seeded, "demo-model@production").version == 2
    assert actions(seeded)[-5:] == [
        ("alice", "register"), ("alice", "approval-requested"), ("bob", "approval"),
        ("bob", "transition"), ("bob", "approval-applied")]
    assert seeded.events("policy:production")[0].action == "policy-set"
    assert seeded.check() == []  # the registry still matches the replayed audit log


def test_several_approvers_from_a_list(seeded: Store) -> None:
    approvals.set_policy("staging", approvers=2, allowed=["bob", "carol"],
                         requester_may_approve=True, store=seeded, actor="admin")
    move = move_version("demo-model", 1, "champion", store=seeded, actor="alice")
    assert move.pending is None  # an unguarded alias
    promote("01TRAIN", name="demo-model", store=seeded, actor="alice")
    request = move_version("demo-model", 2, "staging", "try it", store=seeded,
                           actor="bob").pending
    assert request is not None and request.missing == 2
    with pytest.raises(NotAllowedError, match="dave may not approve moves to staging"):
        approvals.approve(request.id, store=seeded, actor="dave")
    first = approvals.approve(request.id, store=seeded, actor="bob")  # the requester may
    assert (first.request.status, first.request.missing, first.move) == ("pending", 1, None)
    with pytest.raises(ApprovalError, match="bob already approved"):
        approvals.approve(request.id, store=seeded, actor="bob")
    assert approvals.approve(request.id, store=seeded, actor="carol").request.status == \
        "applied"
    assert get_version(seeded, "demo-model@staging").version == 2


def test_a_rejection_closes_the_request(seeded: Store) -> None:
    approvals.set_policy(store=seeded, actor="admin")
    request = move_version("demo-model", 1, "production", "ship", verify=False, store=seeded,
                           actor="alice").pending
    assert request is not None
    rejected = approvals.reject(request.id, reason="not yet", store=seeded, actor="bob")
    assert (rejected.request.status, rejected.request.rejected_by) == ("rejected", ["bob"])
    with pytest.raises(ApprovalError, match="is rejected"):
        approvals.approve(request.id, store=seeded, actor="carol")
    assert get_version(seeded, "demo-model/1").stage == "staging"
    assert get_version(seeded, "demo-model/1").pending is None
    assert actions(seeded)[-1] == ("bob", "rejection")


def test_requests_expire(seeded: Store) -> None:
    approvals.set_policy(expires_after=60, store=seeded, actor="admin")
    request = move_version("demo-model", 1, "production", "ship", verify=False, store=seeded,
                           actor="alice").pending
    assert request is not None and request.expires_at == pytest.approx(time.time() + 60, abs=5)
    assert records.expire_due(seeded, actor="bob", now=request.expires_at + 1) == [request.id]
    with pytest.raises(ApprovalError, match="is expired"):
        approvals.approve(request.id, store=seeded, actor="bob")
    assert approvals.pending(store=seeded) == []
    assert actions(seeded)[-1] == ("bob", "approval-expired")
    # the same move can be asked again
    assert move_version("demo-model", 1, "production", "again", verify=False, store=seeded,
                        actor="alice").pending is not None


def test_an_approved_move_still_runs_its_checks(seeded: Store) -> None:
    approvals.set_policy(store=seeded, actor="admin")
    request = move_version("demo-model", 1, "production", "ship", gate="acc>=0.99",
                           verify=False, store=seeded, actor="alice").pending
    assert request is not None and request.options == {"gate": "acc>=0.99", "verify": False}
    with pytest.raises(ApprovalError, match="already asks"):
        move_version("demo-model", 1, "production", "twice", store=seeded, actor="alice")
    with pytest.raises(PromotionError, match="approved, but moving demo-model/1 to production "
                                             "was refused: gate refused"):
        approvals.approve(request.id, store=seeded, actor="bob")
    closed = records.get_request(seeded, request.id)
    assert closed.status == "failed" and "acc" in (closed.outcome or "")
    assert get_version(seeded, "demo-model/1").stage == "staging"
    assert [a for _, a in actions(seeded)[-3:]] == ["approval", "promotion-refused",
                                                    "approval-failed"]


@pytest.mark.parametrize("call, message", [
    (lambda s: move_version("demo-model", 1, "production", None, store=s),
     "production needs approval, and the approvers need to know why"),
    (lambda s: promote("01TRAIN", name="demo-model", stage="production", store=s),
     "needs approval, and the approvers need to know why"),
    (lambda s: move_version("demo-model", 1, "production", "x", gate="champion", store=s),
     "an approver does not hold"),
    (lambda s: approvals.approve(99, store=s), "no approval request 99"),
])
def test_refused_requests_say_why(seeded: Store, call: object, message: str) -> None:
    approvals.set_policy(store=seeded, actor="admin")
    before = seeded.events()[0].seq
    with pytest.raises((PromotionError, LookupError), match=message):
        call(seeded)  # type: ignore[operator]
    assert seeded.events()[0].seq == before  # nothing registered, nothing asked
    assert approvals.pending(store=seeded) == []


@pytest.mark.parametrize("options, message", [
    ({"approvers": 0}, "approvers must be a whole number from 1"),
    ({"approvers": 3, "allowed": ["bob", "carol"]}, "only 2 user"),
    ({"expires_after": 1}, "between one minute and ten years"),
    ({"allowed": [""]}, "an approver is a user name"),
])
def test_bad_policies_are_value_errors(seeded: Store, options: dict[str, object],
                                       message: str) -> None:
    with pytest.raises(ValueError, match=message):
        approvals.set_policy(store=seeded, **options)  # type: ignore[arg-type]


def cli(store_dir: Path, *args: str, user: str = "alice") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jupyter_mlops.cli", "--store", str(store_dir),
                           *args], capture_output=True, text=True,
                          env={**os.environ, "JUPYTER_MLOPS_USER": user})


def test_command_line_policy_transition_approve(seeded: Store, store_dir: Path) -> None:
    shown = cli(store_dir, "policy")
    assert shown.returncode == 0 and "no approval policies" in shown.stdout
    set_ = cli(store_dir, "policy", "set", "--approver", "bob", "--expires-after", "2",
               "--reason", "four eyes", user="admin")
    assert set_.returncode == 0, set_.stderr
    assert "production: 1 approval from bob, not the requester; requests expire after 2 days" \
        in set_.stdout
    bad = cli(store_dir, "policy", "set", "--approvers", "2", "--approver", "bob")
    assert bad.returncode == 2 and "only 1 user(s) may approve" in bad.stderr
    asked = cli(store_dir, "transition", "demo-model", "1", "production", "--reason", "ship",
                "--no-verify")
    assert asked.returncode == 0, asked.stderr
    assert "not moved yet" in asked.stdout and "waits for approval: request 1" in asked.stdout
    assert "request 1: demo-model/1 → production, asked by alice" in cli(
        store_dir, "approvals").stdout
    own = cli(store_dir, "approve", "1")
    assert own.returncode == 2 and "alice asked for this move" in own.stderr
    approved = cli(store_dir, "approve", "1", "--reason", "looks good", user="bob")
    assert approved.returncode == 0, approved.stderr
    assert "applied (approved by bob)" in approved.stdout
    assert "demo-model/1 [production]" in approved.stdout
    events = cli(store_dir, "events", "demo-model").stdout
    assert "approval-requested" in events and "looks good" in events
    assert "policy-set" in cli(store_dir, "events", "policy:production").stdout
    removed = cli(store_dir, "policy", "remove", "--reason", "done", user="admin")
    assert removed.returncode == 0 and "no approval policies" in removed.stdout


def test_magic_asks_and_approves(shell: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    store = shell.store()
    seed(store.directory)
    monkeypatch.setenv("JUPYTER_MLOPS_USER", "alice")
    assert "production: 1 approval from any user" in shell.run(
        "%mlops policy set --reason 'four eyes'").stdout
    asked = shell.run("%mlops transition demo-model 1 production --reason ship --no-verify")
    assert "waits for approval: request 1" in asked.stdout
    assert "asked by alice" in shell.run("%mlops approvals").stdout
    own = shell.run("%mlops approve 1")
    assert not own.result.success and "alice asked for this move" in own.stderr
    monkeypatch.setenv("JUPYTER_MLOPS_USER", "bob")
    assert "applied (approved by bob)" in shell.run("%mlops approve 1").stdout


def test_an_approved_request_never_stays_open(seeded: Store) -> None:
    """The version went away while its request waited: the approval closes it as failed
    (instead of leaving it approved, where nobody can decide it any more)."""
    from jupyter_mlops.errors import NotFoundError
    from jupyter_mlops.store.registry import delete_version

    approvals.set_policy(store=seeded, actor="admin")
    request = move_version("demo-model", 1, "production", "ship", verify=False, store=seeded,
                           actor="alice").pending
    assert request is not None
    delete_version(seeded, "demo-model", 1, actor="carol", reason="wrong model")
    with pytest.raises(NotFoundError):
        approvals.approve(request.id, store=seeded, actor="bob")
    closed = records.get_request(seeded, request.id)
    assert closed.status == "failed" and "no model version" in (closed.outcome or "")
    assert actions(seeded)[-1] == ("bob", "approval-failed")


def test_approver_groups_in_the_store_and_from_the_identity(seeded: Store,
                                                            store_dir: Path) -> None:
    # Given a group kept in the store (audited) and a policy naming it
    made = cli(store_dir, "group", "set", "reviewers", "--member", "bob", "--member", "carol",
               "--reason", "the ML leads", user="admin")
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == "@reviewers: bob, carol"
    assert [(e.actor, e.action, e.detail["members"]) for e in seeded.events("group:reviewers")
            ] == [("admin", "group-set", ["bob", "carol"])]
    approvals.set_policy(approvers=2, allowed=["@reviewers"], store=seeded, actor="admin")
    request = move_version("demo-model", 1, "production", "ship", verify=False, store=seeded,
                           actor="alice").pending
    assert request is not None
    # Then a user outside the group may not decide; a member may
    with pytest.raises(NotAllowedError, match="dave may not approve moves to production: the "
                       "policy allows @reviewers"):
        approvals.approve(request.id, store=seeded, actor="dave")
    assert approvals.approve(request.id, store=seeded, actor="carol").request.status == "pending"
    # and so may a user the server's identity puts in the group
    decision = approvals.approve(request.id, store=seeded, actor="erin", groups=["reviewers"])
    assert decision.request.status == "applied"
    votes = [e.detail["as"] for e in reversed(seeded.events("demo-model/1"))
             if e.action == "approval"]
    assert votes == ["@reviewers", "@reviewers"]
    with pytest.raises(ValueError, match="group"):
        approvals.set_policy(allowed=["@no such group!"], store=seeded, actor="admin")
    assert cli(store_dir, "group", "remove", "reviewers").stdout.startswith("no approver groups")


def test_an_approved_move_that_never_finished_is_shown_and_retried(seeded: Store,
                                                                   store_dir: Path) -> None:
    approvals.set_policy(allowed=["bob", "carol"], store=seeded, actor="admin")
    request = move_version("demo-model", 1, "production", "ship", verify=False, store=seeded,
                           actor="alice").pending
    assert request is not None
    # Given an approval whose move never ran (the process carrying it out died)
    assert records.vote(seeded, request.id, actor="bob", approve=True).status == "approved"
    # While it may still be running, approving again is refused, saying when to retry
    with pytest.raises(ApprovalError, match="being carried out; if that stopped, approve it "
                       "again after"):
        approvals.approve(request.id, store=seeded, actor="carol")
    assert approvals.stuck(seeded) == []
    with seeded.transaction() as conn:  # an hour and more later
        conn.execute("UPDATE approval_votes SET at = at - 2 * ?", [records.STUCK_AFTER])
    # Then approvals and doctor show it
    listed = cli(store_dir, "approvals")
    assert "request 1: demo-model/1 → production, asked by alice: approved, being carried " \
        "out (approved by bob) — never finished: approve it again to retry, or reject it" \
        in listed.stdout
    doctor = cli(store_dir, "doctor")
    assert doctor.returncode == 1
    assert "approval request 1 (demo-model/1 → production) was approved at" in doctor.stdout
    # and approving it again, by a user the policy lets decide, carries the move out
    with pytest.raises(NotAllowedError):
        approvals.approve(request.id, store=seeded, actor="dave")
    retried = cli(store_dir, "approve", "1", "--reason", "the server died", user="carol")
    assert retried.returncode == 0, retried.stderr
    assert "demo-model/1 [production]" in retried.stdout
    assert actions(seeded, "demo-model/1")[-3:] == [
        ("carol", "approval-retried"), ("carol", "transition"), ("carol", "approval-applied")]
    assert cli(store_dir, "doctor").returncode == 0


RETRY = """
import sys
from jupyter_mlops import open_store
from jupyter_mlops.errors import ApprovalError
from jupyter_mlops.lifecycle import approvals
directory, request, actor = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open_store(directory) as store:
    try:
        decision = approvals.approve(request, reason="retry", store=store, actor=actor)
        print("applied" if decision.move else decision.request.status)
    except ApprovalError as exc:
        print("refused:", exc)
"""


def test_concurrent_retries_of_a_stuck_move_carry_it_out_once(churn: Any,  # noqa: F811
                                                              store_dir: Path) -> None:
    """Two approvers retry the same stuck request at once, each from a process of its own:
    both verify the bundle in a fresh virtualenv (the minutes a retry takes), but only one
    moves the version; the other is refused, and the audit log holds one transition and one
    approval-applied for the request."""
    store = churn.store()
    promote("churn", name="churn", reason="trained", store=store, actor="alice")
    approvals.set_policy(allowed=["bob", "carol", "dave"], store=store, actor="admin")
    request = move_version("churn", 1, "production", "ship", store=store, actor="alice").pending
    assert request is not None
    assert records.vote(store, request.id, actor="bob", approve=True).status == "approved"
    with store.transaction() as conn:  # an hour and more later: stuck
        conn.execute("UPDATE approval_votes SET at = at - 2 * ?", [records.STUCK_AFTER])
    outputs = run_workers(RETRY, [[str(store_dir), str(request.id), who]
                                  for who in ("carol", "dave")])
    assert sorted(o.split(":")[0].strip() for o in outputs) == ["applied", "refused"], outputs
    assert f"request {request.id} was already carried out by " in "".join(outputs)
    done = [(e.action, e.detail.get("request")) for e in reversed(store.events("churn/1"))
            if e.action in ("transition", "approval-applied", "approval-failed")]
    assert done == [("transition", request.id), ("approval-applied", request.id)], outputs
    assert records.get_request(store, request.id).status == "applied"
    assert store.check() == []  # the registry still matches the replayed audit log

def test_a_stuck_move_no_one_wants_any_more_can_be_rejected(seeded: Store) -> None:
    """Else it stayed open for good, and the same move could never be asked for again."""
    approvals.set_policy(allowed=["bob", "carol"], store=seeded, actor="admin")
    request = move_version("demo-model", 1, "production", "ship", verify=False, store=seeded,
                           actor="alice").pending
    assert request is not None
    assert records.vote(seeded, request.id, actor="bob", approve=True).status == "approved"
    with pytest.raises(ApprovalError, match="being carried out"):  # it may still be running
        approvals.reject(request.id, store=seeded, actor="carol")
    with seeded.transaction() as conn:  # an hour and more later: stuck
        conn.execute("UPDATE approval_votes SET at = at - 2 * ?", [records.STUCK_AFTER])
    with pytest.raises(NotAllowedError):  # only a user the policy lets decide
        approvals.reject(request.id, store=seeded, actor="dave")
    rejected = approvals.reject(request.id, reason="not this one", store=seeded, actor="carol")
    assert rejected.request.status == "rejected" and approvals.stuck(seeded) == []
    again = move_version("demo-model", 1, "production", "ship", verify=False, store=seeded,
                         actor="alice").pending
    assert again is not None and again.id != request.id
