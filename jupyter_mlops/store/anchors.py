"""Where the audit chain is anchored outside its table, and the optional key that signs it.

A ``DELETE`` on the ``events`` table (after dropping its triggers) can remove the newest
events, and anyone can recompute an unkeyed sha256 chain. So the chain's head — the sequence
number and hash of its newest event — is also written where such an edit does not reach:

- ``audit-head.json`` beside ``lineage.db``, replaced atomically after every commit that
  appended events (it may lag the table after a crash, never lead it);
- each model version row (``audit_seq``, ``audit_hash``: the last event about that version);
- each bundle's ``lineage.json`` (``audit_head``), which leaves the machine with the model.

With a key (``$JUPYTER_MLOPS_AUDIT_KEY``, or a file named by ``$JUPYTER_MLOPS_AUDIT_KEY_FILE``;
never inside the store) every event's hash is an HMAC and the head file is signed, so the
chain cannot be recomputed without the key. Keyed mode is one-way: the head file and the version
rows keep ``keyed`` once set, so a log re-written without the key contradicts them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import StoreError

HEAD_FILENAME = "audit-head.json"
MAX_JSON_BYTES = 1 << 20
KEY_ENV = "JUPYTER_MLOPS_AUDIT_KEY"
KEY_FILE_ENV = "JUPYTER_MLOPS_AUDIT_KEY_FILE"


@dataclass(frozen=True)
class Head:
    """The newest event of the chain: its sequence number and hash (``seq`` 0: empty)."""

    seq: int
    hash: str
    signature: str | None = None
    keyed: bool = False

    def anchor(self) -> dict[str, int | str | bool]:
        """The (seq, hash, keyed) as written into a bundle's ``lineage.json``."""
        return {"seq": self.seq, "hash": self.hash, "keyed": self.keyed}


def audit_key(store_directory: Path | None = None) -> bytes | None:
    """The audit key from the environment (the value, or a file's content), or None.

    A key file inside the store is refused: whoever can write the store could read it.
    """
    value = os.environ.get(KEY_ENV)
    if value:
        return value.encode()
    path = os.environ.get(KEY_FILE_ENV)
    if not path:
        return None
    key_file = Path(path).expanduser().resolve()
    if store_directory is not None and store_directory.resolve() in key_file.parents:
        raise StoreError(f"${KEY_FILE_ENV} points inside the store ({key_file}): keep the audit "
                         "key where those who can write the store cannot read it")
    try:
        key = key_file.read_bytes().strip()
    except OSError as exc:
        raise StoreError(f"cannot read the audit key file {key_file} (${KEY_FILE_ENV}): {exc}"
                         ) from exc
    if not key:
        raise StoreError(f"the audit key file {key_file} (${KEY_FILE_ENV}) is empty")
    return key


def sign(key: bytes, text: str) -> str:
    """HMAC-SHA256 of ``text`` under ``key``, as hex."""
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def head_signature(key: bytes, seq: int, digest: str) -> str:
    """The signature of a head file's (seq, hash) under ``key``."""
    return sign(key, f"audit-head:{seq}:{digest}")


def read_head(directory: Path) -> Head | None:
    """The head recorded in ``directory``'s head file; None when there is none.

    Raises :class:`StoreError` when the file exists but cannot be read as a head.
    """
    path = directory / HEAD_FILENAME
    try:
        data = read_json(path)
        signature = data.get("signature")
        return Head(int(data["seq"]), str(data["hash"]),
                    None if signature is None else str(signature),
                    data.get("keyed") is True or signature is not None)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StoreError(f"{path} is not a readable audit head ({_why(exc)})") from exc


def read_json(path: Path, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """Parse a small JSON file that anyone may have written: at most ``max_bytes``, and
    nesting too deep for the parser is a :class:`ValueError` (not a RecursionError)."""
    with path.open("rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"larger than {max_bytes} bytes")
    return parse_json(data)


def parse_json(data: bytes | str) -> Any:
    """``json.loads``, with nesting too deep for the parser a :class:`ValueError`."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if isinstance(exc, OSError) else str(exc)[:200]


def write_head(directory: Path, head: Head, key: bytes | None, *, replace: bool = False
               ) -> None:
    """Replace the head file atomically, unless it already records a newer (or, without
    ``replace``, the same) event."""
    try:
        current = read_head(directory)
    except StoreError:
        current = None
    if current is not None and (current.seq > head.seq or
                                (current.seq == head.seq and not replace)):
        return
    signature = head_signature(key, head.seq, head.hash) if key else None
    keyed = key is not None or head.keyed or (current is not None and current.keyed)
    text = json.dumps({"seq": head.seq, "hash": head.hash, "signature": signature,
                       "keyed": keyed})
    fd, temporary = tempfile.mkstemp(prefix=".audit-head-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, directory / HEAD_FILENAME)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
