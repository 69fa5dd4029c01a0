"""Approval policies and the requests that wait for them — every change audited.

A :class:`Policy` says that moving a version to a stage needs approval: how many approvers,
whether the requester may be one of them, who may approve (user names, and ``@GROUP`` for the
members of a group: a group kept in the store, or one the Jupyter server's identity says the
user is in; empty: anyone) and how long a request stays open. A move under a policy becomes
an :class:`ApprovalRequest` that keeps a copy of the policy it was made under; approvals
and rejections are votes, one per user; a request is ``pending`` until it is ``approved``
(then ``applied`` or ``failed`` when the move runs its checks), ``rejected`` or
``expired``. A request left ``approved`` (the process carrying the move out died) is
:func:`stuck` after :data:`STUCK_AFTER`: it is shown, and approving it again retries the
move. Every change appends an event in its own transaction: policies under the subject
``policy:STAGE``, groups under ``group:NAME``, requests under the version's
``NAME/VERSION``.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ApprovalError, NotAllowedError, NotFoundError
from .audit import append_event
from .registry import check_name, check_version

if TYPE_CHECKING:
    from .store import Store

DAY = 86400.0
DEFAULT_EXPIRY = 7 * DAY
MAX_APPROVERS = 100
MAX_MEMBERS = 1000
STUCK_AFTER = 3600.0  # seconds an approved move may take (a fresh-virtualenv verification)
GROUP = "@"  # an approver entry naming a group: @reviewers
OPEN = ("pending", "approved")  # approved: the move is being checked and carried out


@dataclass(frozen=True)
class Policy:
    """Moving a version to ``stage`` needs ``approvers`` approvals from distinct users.

    Attributes
    ----------
    stage : the stage (or alias) this policy guards
    approvers : how many distinct users must approve
    requester_may_approve : whether the user who asked may be one of them
    allowed : the user names (and ``@GROUP`` names) who may approve or reject; empty: any
    expires_after : seconds a request stays open
    """

    stage: str
    approvers: int = 1
    requester_may_approve: bool = False
    allowed: tuple[str, ...] = ()
    expires_after: float = DEFAULT_EXPIRY

    def __post_init__(self) -> None:
        check_name(self.stage, "stage")
        if isinstance(self.approvers, bool) or not isinstance(self.approvers, int) or \
                not 1 <= self.approvers <= MAX_APPROVERS:
            raise ValueError(f"approvers must be a whole number from 1 to {MAX_APPROVERS}, got "
                             f"{str(self.approvers)[:20]!r}")
        if not isinstance(self.expires_after, (int, float)) or \
                not 60 <= self.expires_after <= 3650 * DAY:
            raise ValueError("a request must stay open between one minute and ten years "
                             f"(expires_after in seconds), got {str(self.expires_after)[:20]!r}")
        for name in self.allowed:
            if not isinstance(name, str) or not name.strip() or len(name) > 200:
                raise ValueError(f"an approver is a user name of 1 to 200 characters, got "
                                 f"{str(name)[:40]!r}")
            if name.startswith(GROUP):
                check_name(name[1:], "group")
        if self.allowed and not any(a.startswith(GROUP) for a in self.allowed) and \
                len(set(self.allowed)) < self.approvers:
            raise ValueError(f"{self.approvers} approvals are needed but only "
                             f"{len(set(self.allowed))} user(s) may approve: name more "
                             "approvers, or need fewer approvals")

    def describe(self) -> str:
        """One line: what a move to this stage needs."""
        who = f"from {', '.join(self.allowed)}" if self.allowed else "from any user"
        requester = "the requester may approve" if self.requester_may_approve else \
            "not the requester"
        days = self.expires_after / DAY
        expiry = f"{days:g} days" if days >= 1 else f"{self.expires_after / 3600:g} hours"
        return (f"{self.stage}: {self.approvers} approval{'s' * (self.approvers > 1)} {who}, "
                f"{requester}; requests expire after {expiry}")

    def refusal(self, actor: str, requester: str, groups: Collection[str] = ()
                ) -> str | None:
        """Why ``actor`` (a member of ``groups``) may not approve or reject a request of
        ``requester`` (None: may)."""
        if actor == requester and not self.requester_may_approve:
            return (f"{actor} asked for this move, and the {self.stage} policy needs approval "
                    "by someone else")
        if self.allowed and self.entry(actor, groups) is None:
            member = f" (a member of {', '.join(sorted(groups))})" if groups else ""
            return (f"{actor}{member} may not approve moves to {self.stage}: the policy "
                    f"allows {', '.join(self.allowed)}")
        return None

    def entry(self, actor: str, groups: Collection[str] = ()) -> str | None:
        """The entry of ``allowed`` that lets ``actor`` decide: the name, else the first
        ``@GROUP`` of one of ``groups``; None when none does (or ``allowed`` is empty)."""
        if actor in self.allowed:
            return actor
        return next((a for a in self.allowed if a.startswith(GROUP) and a[1:] in groups), None)


@dataclass(frozen=True)
class ApprovalRequest:
    """A move of ``name/version`` to ``stage`` waiting for (or decided by) its approvers."""

    id: int
    name: str
    version: int
    stage: str
    requested_by: str
    requested_at: float
    expires_at: float
    reason: str | None
    status: str
    policy: Policy
    options: dict[str, Any] = field(default_factory=dict)
    approved_by: list[str] = field(default_factory=list)
    rejected_by: list[str] = field(default_factory=list)
    closed_at: float | None = None
    closed_by: str | None = None
    outcome: str | None = None

    @property
    def ref(self) -> str:
        """``name/version`` of the version to move."""
        return f"{self.name}/{self.version}"

    @property
    def missing(self) -> int:
        """Approvals still needed."""
        return max(0, self.policy.approvers - len(self.approved_by))

    def describe(self) -> str:
        """One line: what is asked, by whom, and where it stands."""
        where = {"pending": f"waiting for {self.missing} more approval"
                            f"{'s' * (self.missing > 1)}",
                 "approved": "approved, being carried out"}.get(self.status, self.status)
        by = f" (approved by {', '.join(self.approved_by)})" if self.approved_by else ""
        return (f"request {self.id}: {self.ref} → {self.stage}, asked by {self.requested_by}: "
                f"{where}{by}")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with ``missing`` and ``ref``."""
        return {**asdict(self), "ref": self.ref, "missing": self.missing}


def _policy_from(row: Any) -> Policy:
    stage, approvers, requester_may_approve, allowed, expires_after = row
    return Policy(stage, approvers, bool(requester_may_approve), tuple(json.loads(allowed)),
                  expires_after)


_POLICY_COLUMNS = "stage, approvers, requester_may_approve, allowed, expires_after"


def policies(store: Store) -> list[Policy]:
    """Every stage's policy, by stage."""
    rows = store.conn.execute(f"SELECT {_POLICY_COLUMNS} FROM approval_policies ORDER BY stage")
    return [_policy_from(row) for row in rows]


def policy_for(store: Store, stage: str | None) -> Policy | None:
    """The policy guarding moves to ``stage``, if any."""
    if stage is None:
        return None
    row = store.conn.execute(f"SELECT {_POLICY_COLUMNS} FROM approval_policies WHERE stage = ?",
                             [stage]).fetchone()
    return _policy_from(row) if row else None


def set_policy(store: Store, policy: Policy, *, actor: str, reason: str | None = None
               ) -> Policy:
    """Create or replace the policy of ``policy.stage``; audited (``policy-set``). Requests
    already made keep the policy they were made under."""
    with store.transaction() as conn:
        previous = policy_for(store, policy.stage)
        conn.execute(
            "INSERT INTO approval_policies VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (stage) DO "
            "UPDATE SET approvers = excluded.approvers, requester_may_approve = "
            "excluded.requester_may_approve, allowed = excluded.allowed, expires_after = "
            "excluded.expires_after, updated_at = excluded.updated_at, updated_by = "
            "excluded.updated_by",
            [policy.stage, policy.approvers, int(policy.requester_may_approve),
             json.dumps(list(policy.allowed)), policy.expires_after, time.time(), actor])
        append_event(conn, actor=actor, action="policy-set", subject=f"policy:{policy.stage}",
                     detail={"policy": asdict(policy),
                             "previous": asdict(previous) if previous else None},
                     reason=reason)
    return policy


def remove_policy(store: Store, stage: str, *, actor: str, reason: str | None = None) -> None:
    """Remove the policy of ``stage`` (moves there no longer wait); audited. Pending requests
    stay pending under the policy they were made under."""
    with store.transaction() as conn:
        previous = policy_for(store, check_name(stage, "stage"))
        if previous is None:
            raise NotFoundError(f"no approval policy for {stage!r} (policies: "
                                f"{', '.join(p.stage for p in policies(store)) or 'none'})")
        conn.execute("DELETE FROM approval_policies WHERE stage = ?", [stage])
        append_event(conn, actor=actor, action="policy-removed", subject=f"policy:{stage}",
                     detail={"previous": asdict(previous)}, reason=reason)


_REQUEST_COLUMNS = (
    "id, name, version, stage, requested_by, requested_at, expires_at, reason, status, policy, "
    "options, (SELECT json_group_array(actor) FROM (SELECT actor FROM approval_votes v "
    "WHERE v.request_id = r.id AND decision = 'approve' ORDER BY at)), "
    "(SELECT json_group_array(actor) FROM approval_votes v WHERE v.request_id = r.id AND "
    "decision = 'reject'), closed_at, closed_by, outcome"
)


def _request_from(row: Any) -> ApprovalRequest:
    (id_, name, version, stage, by, at, expires, reason, status, policy, options, approved,
     rejected, closed_at, closed_by, outcome) = row
    data = json.loads(policy)
    data["allowed"] = tuple(data["allowed"])
    return ApprovalRequest(id_, name, version, stage, by, at, expires, reason, status,
                           Policy(**data), json.loads(options or "{}"), json.loads(approved),
                           json.loads(rejected), closed_at, closed_by, outcome)


def get_request(store: Store, request_id: int) -> ApprovalRequest:
    """One request by number."""
    row = store.conn.execute(f"SELECT {_REQUEST_COLUMNS} FROM approval_requests r WHERE id = ?",
                             [check_version(request_id)]).fetchone()
    if row is None:
        raise NotFoundError(f"no approval request {request_id} (list them with "
                            "`jupyter-mlops approvals`)")
    return _request_from(row)


def requests(store: Store, *, status: str | None = "pending", name: str | None = None,
             limit: int = 200) -> list[ApprovalRequest]:
    """Requests, newest first: those with ``status`` (None: all), of model ``name``."""
    sql, args = f"SELECT {_REQUEST_COLUMNS} FROM approval_requests r WHERE 1", []
    if status is not None:
        sql += " AND status = ?"
        args.append(status)
    if name is not None:
        sql += " AND name = ?"
        args.append(name)
    rows = store.conn.execute(sql + " ORDER BY id DESC LIMIT ?", [*args, limit])
    return [_request_from(row) for row in rows]


def expire_due(store: Store, *, actor: str, now: float | None = None) -> list[int]:
    """Close the pending requests past their expiry (each audited as ``approval-expired``);
    their numbers."""
    now = time.time() if now is None else now
    with store.transaction() as conn:
        due = conn.execute("SELECT id, name, version, stage, expires_at FROM approval_requests "
                           "WHERE status = 'pending' AND expires_at <= ?", [now]).fetchall()
        for id_, name, version, stage, expires_at in due:
            _close(conn, id_, "expired", actor, f"expired at {time.ctime(expires_at)}", now)
            append_event(conn, actor=actor, action="approval-expired",
                         subject=f"{name}/{version}",
                         detail={"request": id_, "stage": stage, "expires_at": expires_at})
    return [row[0] for row in due]


def _close(conn: sqlite3.Connection, request_id: int, status: str, actor: str,
           outcome: str | None, now: float) -> None:
    conn.execute("UPDATE approval_requests SET status = ?, closed_at = ?, closed_by = ?, "
                 "outcome = ? WHERE id = ?", [status, now, actor, outcome, request_id])


def require_reason(what: str, stage: str) -> None:
    """Refuse a request without a reason: the approvers need to know why."""
    raise ApprovalError(f"moving {what} to {stage} needs approval, and the approvers need to "
                        "know why: give a reason (reason=..., --reason TEXT); it is audited")


def create_request(store: Store, *, name: str, version: int, stage: str, policy: Policy,
                   actor: str, reason: str | None, options: dict[str, Any]) -> ApprovalRequest:
    """Ask for the move of ``name/version`` to ``stage`` under ``policy``; audited
    (``approval-requested``). Refused while the same move is already open."""
    if not reason:
        require_reason(f"{name}/{version}", stage)
    expire_due(store, actor=actor)
    now = time.time()
    with store.transaction() as conn:
        open_ = conn.execute("SELECT id FROM approval_requests WHERE name = ? AND version = ? "
                             "AND stage = ? AND status IN ('pending', 'approved')",
                             [name, version, stage]).fetchone()
        if open_:
            raise ApprovalError(f"request {open_[0]} already asks to move {name}/{version} to "
                                f"{stage}: approve or reject it (`jupyter-mlops approve "
                                f"{open_[0]}`)")
        cursor = conn.execute(
            "INSERT INTO approval_requests (name, version, stage, requested_by, requested_at, "
            "expires_at, reason, options, policy, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "'pending')",
            [name, version, stage, actor, now, now + policy.expires_after, reason,
             json.dumps(options, default=repr), json.dumps(asdict(policy))])
        request_id = int(cursor.lastrowid or 0)
        append_event(conn, actor=actor, action="approval-requested", subject=f"{name}/{version}",
                     detail={"request": request_id, "stage": stage, "policy": asdict(policy),
                             "expires_at": now + policy.expires_after, **options},
                     reason=reason)
    return get_request(store, request_id)


def vote(store: Store, request_id: int, *, actor: str, approve: bool,
         reason: str | None = None, groups: Collection[str] = ()) -> ApprovalRequest:
    """Record ``actor``'s approval or rejection; audited (``approval`` / ``rejection``). One
    rejection rejects the request; enough approvals make it ``approved`` (the caller then
    carries out the move and closes it with :func:`finish`). A :func:`stuck` request may
    still be rejected (else it stayed open, and the same move could not be asked again).

    ``actor`` is a member of the store's groups that name it and of ``groups`` (those the
    Jupyter server's identity gives); the audit event says which policy entry let them.

    Raises
    ------
    NotAllowedError
        the policy the request was made under does not let ``actor`` decide it.
    ApprovalError
        the request is closed, expired, approved (unless rejecting a stuck one), or
        ``actor`` already approved it.
    """
    member_of = groups_of(store, actor) | set(groups)
    expire_due(store, actor=actor)
    with store.transaction() as conn:
        request = get_request(store, request_id)
        rejecting_stuck = request.status == "approved" and not approve
        if request.status != "pending" and not rejecting_stuck:
            raise ApprovalError(f"request {request_id} is {request.status}"
                                + (f" ({request.outcome})" if request.outcome else "")
                                + ": nothing to decide")
        if rejecting_stuck and request.id not in {r.id for r in stuck(store)}:
            raise ApprovalError(f"request {request_id} was approved and its move is being "
                                "carried out: if it never finishes, reject it (or approve it "
                                f"again to retry) {STUCK_AFTER / 3600:g} hour(s) after its "
                                "approval")
        refused = request.policy.refusal(actor, request.requested_by, member_of)
        if refused:
            raise NotAllowedError(f"request {request_id}: {refused}")
        if actor in request.approved_by:
            raise ApprovalError(f"{actor} already approved request {request_id}; it needs "
                                f"{request.missing} more approval(s) by other users")
        now = time.time()
        conn.execute("INSERT INTO approval_votes VALUES (?, ?, ?, ?, ?)",
                     [request_id, actor, "approve" if approve else "reject", now, reason])
        approvals = len(request.approved_by) + approve
        append_event(conn, actor=actor, action="approval" if approve else "rejection",
                     subject=request.ref,
                     detail={"request": request_id, "stage": request.stage,
                             "approvals": approvals, "needed": request.policy.approvers,
                             "as": request.policy.entry(actor, member_of)},
                     reason=reason)
        if not approve:
            _close(conn, request_id, "rejected", actor, reason, now)
        elif approvals >= request.policy.approvers:
            conn.execute("UPDATE approval_requests SET status = 'approved' WHERE id = ?",
                         [request_id])
    return get_request(store, request_id)


def check_approved(store: Store, request_id: int, name: str, version: int, stage: str) -> None:
    """Refuse to carry out a request that is not approved, or asks for another move."""
    request = get_request(store, request_id)
    same_move = (request.name, request.version, request.stage) == (name, version, stage)
    if same_move and request.status == "applied":  # by another approver's retry, say
        raise ApprovalError(f"request {request_id} was already carried out by "
                            f"{request.closed_by}: {request.ref} is in {request.stage}")
    if request.status != "approved" or not same_move:
        raise ApprovalError(f"request {request_id} ({request.ref} → {request.stage}, "
                            f"{request.status}) does not approve moving {name}/{version} to "
                            f"{stage}")


def finish(conn: sqlite3.Connection, request: ApprovalRequest, *, actor: str, applied: bool,
           outcome: str) -> None:
    """Close an approved request as ``applied`` or ``failed``, inside the caller's
    transaction (the one that moves the version, when applied); audited. A request that is
    no longer ``approved`` is left as it is."""
    if conn.execute("SELECT status FROM approval_requests WHERE id = ?",
                    [request.id]).fetchone()[0] != "approved":
        return
    _close(conn, request.id, "applied" if applied else "failed", actor, outcome, time.time())
    append_event(conn, actor=actor, action="approval-applied" if applied else "approval-failed",
                 subject=request.ref,
                 detail={"request": request.id, "stage": request.stage, "outcome": outcome})


def groups(store: Store) -> dict[str, list[str]]:
    """Every approver group: name → members."""
    rows = store.conn.execute("SELECT name, members FROM approval_groups ORDER BY name")
    return {name: json.loads(members) for name, members in rows}


def groups_of(store: Store, actor: str) -> set[str]:
    """The store's groups ``actor`` is a member of."""
    return {name for name, members in groups(store).items() if actor in members}


def set_group(store: Store, name: str, members: Collection[str], *, actor: str,
              reason: str | None = None) -> list[str]:
    """Create or replace group ``name`` (policies name it ``@name``); audited
    (``group-set``, with the members before and after)."""
    check_name(name, "group")
    listed = list(dict.fromkeys(m.strip() for m in members if isinstance(m, str)))
    if not listed or len(listed) > MAX_MEMBERS or any(
            not m or len(m) > 200 for m in listed) or len(listed) < len(list(members)):
        raise ValueError(f"a group has 1 to {MAX_MEMBERS} members, each a user name of 1 to "
                         "200 characters")
    with store.transaction() as conn:
        previous = groups(store).get(name)
        conn.execute("INSERT INTO approval_groups VALUES (?, ?, ?, ?) ON CONFLICT (name) DO "
                     "UPDATE SET members = excluded.members, updated_at = excluded.updated_at, "
                     "updated_by = excluded.updated_by",
                     [name, json.dumps(listed), time.time(), actor])
        append_event(conn, actor=actor, action="group-set", subject=f"group:{name}",
                     detail={"members": listed, "previous": previous}, reason=reason)
    return listed


def remove_group(store: Store, name: str, *, actor: str, reason: str | None = None) -> None:
    """Remove group ``name`` (a policy naming it then lets no one in by it); audited."""
    with store.transaction() as conn:
        previous = groups(store).get(name)
        if previous is None:
            raise NotFoundError(f"no approver group {name!r} (groups: "
                                f"{', '.join(groups(store)) or 'none'})")
        conn.execute("DELETE FROM approval_groups WHERE name = ?", [name])
        append_event(conn, actor=actor, action="group-removed", subject=f"group:{name}",
                     detail={"previous": previous}, reason=reason)


def approved_at(store: Store, request_id: int) -> float | None:
    """When the request got the approval that met its policy (its latest approval)."""
    row = store.conn.execute("SELECT max(at) FROM approval_votes WHERE request_id = ? AND "
                             "decision = 'approve'", [request_id]).fetchone()
    return row[0] if row else None


def stuck(store: Store, *, now: float | None = None, after: float = STUCK_AFTER
          ) -> list[ApprovalRequest]:
    """Approved requests whose move was not carried out within ``after`` seconds of their
    approval (the process carrying it out died): approving one again retries the move."""
    now = time.time() if now is None else now
    return [r for r in requests(store, status="approved")
            if (approved_at(store, r.id) or r.requested_at) <= now - after]
