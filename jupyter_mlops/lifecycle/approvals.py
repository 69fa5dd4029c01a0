"""Approvals: who must agree before a version moves to a guarded stage.

``set_policy("production", approvers=1)`` guards a stage; from then on ``promote(...,
stage="production")`` and ``transition(...)`` register a request instead of moving the
version, and :func:`approve` by enough users (never the requester, unless the policy says so)
carries the move out through the same checks as an unguarded move (gate, fresh-virtualenv
verification, :func:`~.promotion.move_version`). :func:`reject` closes a request; requests
expire. A policy names approvers by user name or ``@GROUP`` (:func:`set_group` keeps groups
in the store; the Jupyter server adds the groups its identity gives the user). A request
whose approved move never finished (:func:`stuck`) is retried by approving it again. Each
step is an audit event. The acting user is
:func:`~jupyter_mlops.capture.environment.user` (``$JUPYTER_MLOPS_USER``, else the OS user)
unless ``actor`` is given: the Jupyter server passes the identity its ``IdentityProvider``
authenticated.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from ..capture.environment import user
from ..errors import ApprovalError, NotAllowedError, PromotionError
from ..store import Store, approvals, open_store
from ..store.approvals import DEFAULT_EXPIRY, STUCK_AFTER, ApprovalRequest, Policy
from ..store.audit import append_event
from .promotion import Move, move_version


def set_policy(stage: str = "production", *, approvers: int = 1,
               requester_may_approve: bool = False, allowed: Sequence[str] = (),
               expires_after: float = DEFAULT_EXPIRY, reason: str | None = None,
               store: Store | None = None, actor: str | None = None) -> Policy:
    """Guard moves to ``stage``: they need ``approvers`` approvals from distinct users.

    Parameters
    ----------
    stage : the stage (or alias) to guard
    approvers : how many distinct users must approve
    requester_may_approve : whether the user who asked may approve (default: no)
    allowed : the user names, and ``@GROUP`` for a group's members, who may approve or
        reject; empty: any user
    expires_after : seconds a request stays open (default 7 days)
    reason : why; recorded in the audit log
    """
    store = store or open_store(create=False)
    policy = Policy(stage, approvers, requester_may_approve,
                    tuple(dict.fromkeys(a.strip() for a in allowed)), float(expires_after))
    return approvals.set_policy(store, policy, actor=actor or user(), reason=reason)


def remove_policy(stage: str = "production", *, reason: str | None = None,
                  store: Store | None = None, actor: str | None = None) -> None:
    """Stop guarding ``stage`` (requests already made stay under their policy)."""
    store = store or open_store(create=False)
    approvals.remove_policy(store, stage, actor=actor or user(), reason=reason)


def policies(store: Store | None = None) -> list[Policy]:
    """Every guarded stage's policy."""
    return approvals.policies(store or open_store(create=False))


def pending(name: str | None = None, *, store: Store | None = None,
            actor: str | None = None) -> list[ApprovalRequest]:
    """The requests waiting for approval (of model ``name``), newest first; requests past
    their expiry are closed first (audited)."""
    store = store or open_store(create=False)
    approvals.expire_due(store, actor=actor or user())
    return approvals.requests(store, status="pending", name=name)


@dataclass(frozen=True)
class Decision:
    """A request after a user's approval or rejection; ``move`` when it was carried out."""

    request: ApprovalRequest
    move: Move | None = None


def approve(request_id: int, *, reason: str | None = None, store: Store | None = None,
            actor: str | None = None, groups: Collection[str] = ()) -> Decision:
    """Approve request ``request_id``; when the policy is met the version moves (its gate
    and verification run now; a refusal closes the request as ``failed``). ``groups``: the
    groups the caller's identity puts ``actor`` in, beside the store's.

    Approving a request that is :func:`stuck` (approved, its move never finished) retries
    the move (audited ``approval-retried``), by a user the policy lets decide it.

    Raises
    ------
    NotAllowedError
        the policy does not let this user approve it (the requester, or not on the list).
    ApprovalError
        the request is unknown, closed or expired, or this user already approved it, or
        its approved move is still being carried out, or was carried out (or closed) by
        another process while this one checked it.
    PromotionError
        approved, but the move's checks refused it (the request is closed as ``failed``).
    """
    store = store or open_store(create=False)
    actor = actor or user()
    if approvals.get_request(store, request_id).status == "approved":
        request = _retry(store, request_id, actor, groups, reason)
    else:
        request = approvals.vote(store, request_id, actor=actor, approve=True, reason=reason,
                                 groups=groups)
        if request.status != "approved":
            return Decision(request)
    options = request.options
    try:
        move = move_version(request.name, request.version, request.stage, request.reason,
                            gate=options.get("gate"), force=bool(options.get("force")),
                            verify=options.get("verify"), trusted=options.get("trusted"),
                            store=store, actor=actor, request=request.id)
    except Exception as exc:  # an approved request never stays open: it failed
        with store.transaction() as conn:
            approvals.finish(conn, request, actor=actor, applied=False, outcome=str(exc))
        if not isinstance(exc, PromotionError) or isinstance(exc, ApprovalError):
            raise
        raise PromotionError(f"request {request.id} was approved, but moving {request.ref} "
                             f"to {request.stage} was refused: {exc}") from exc
    return Decision(approvals.get_request(store, request.id), move)


def _retry(store: Store, request_id: int, actor: str, groups: Collection[str],
           reason: str | None) -> ApprovalRequest:
    """Take up a stuck request's move again (audited), if ``actor`` may decide it; checked
    and audited in one transaction, so a retry another process finished first is refused."""
    member_of = approvals.groups_of(store, actor) | set(groups)
    with store.transaction() as conn:
        request = approvals.get_request(store, request_id)
        if request.status != "approved":
            raise ApprovalError(f"request {request_id} is {request.status}"
                                + (f" ({request.outcome})" if request.outcome else "")
                                + ": nothing to retry")
        at = approvals.approved_at(store, request_id) or request.requested_at
        if request.id not in {r.id for r in approvals.stuck(store)}:
            raise ApprovalError(f"request {request_id} was approved at {time.ctime(at)} and "
                                f"its move is being carried out; if that stopped, approve it "
                                f"again after {time.ctime(at + STUCK_AFTER)} to retry it")
        refused = request.policy.refusal(actor, request.requested_by, member_of)
        if refused:
            raise NotAllowedError(f"request {request_id}: {refused}")
        append_event(conn, actor=actor, action="approval-retried", subject=request.ref,
                     detail={"request": request.id, "stage": request.stage,
                             "approved_at": at}, reason=reason)
    return request


def reject(request_id: int, *, reason: str | None = None, store: Store | None = None,
           actor: str | None = None, groups: Collection[str] = ()) -> Decision:
    """Reject request ``request_id`` (one rejection closes it), pending or :func:`stuck`;
    same rules as :func:`approve` on who may."""
    store = store or open_store(create=False)
    return Decision(approvals.vote(store, request_id, actor=actor or user(), approve=False,
                                   reason=reason, groups=groups))


def stuck(store: Store | None = None) -> list[ApprovalRequest]:
    """Approved requests whose move never finished (see :func:`approve` to retry one)."""
    return approvals.stuck(store or open_store(create=False))


def set_group(name: str, members: Sequence[str], *, reason: str | None = None,
              store: Store | None = None, actor: str | None = None) -> list[str]:
    """Create or replace the approver group ``name``: policies name it ``@name``; audited."""
    store = store or open_store(create=False)
    return approvals.set_group(store, name, members, actor=actor or user(), reason=reason)


def remove_group(name: str, *, reason: str | None = None, store: Store | None = None,
                 actor: str | None = None) -> None:
    """Remove the approver group ``name``; audited."""
    store = store or open_store(create=False)
    approvals.remove_group(store, name, actor=actor or user(), reason=reason)


def groups(store: Store | None = None) -> dict[str, list[str]]:
    """The approver groups: name → members."""
    return approvals.groups(store or open_store(create=False))


__all__ = ["ApprovalRequest", "Decision", "Policy", "approve", "groups", "pending", "policies",
           "reject", "remove_group", "remove_policy", "set_group", "set_policy", "stuck"]
