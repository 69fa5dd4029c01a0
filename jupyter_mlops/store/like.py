"""SQL ``LIKE`` patterns from user text: its wildcards escaped, so ``a_v`` and ``%`` match
only themselves. Every ``LIKE`` of the store takes its pattern from :func:`like_escape` and
ends with :data:`ESCAPE`."""

from __future__ import annotations

ESCAPE = "ESCAPE '\\'"


def like_escape(text: str) -> str:
    """``text`` as a literal inside a ``LIKE ... ESCAPE '\\'`` pattern (``%``, ``_`` and the
    backslash escaped); add the pattern's own ``%`` around it."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
