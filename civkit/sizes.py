"""Byte counts as people read them: 1024-based units, exact below 1 KiB."""

from __future__ import annotations

_UNITS = ("KiB", "MiB", "GiB", "TiB")


def human_size(n, *, byte_word: str = "B") -> str:
    """``2.3 MiB``; counts under 1 KiB are whole (``11 B``, or ``11 bytes`` with ``byte_word="bytes"``)."""
    size = float(n or 0)
    if abs(size) < 1024:
        return f"{size:.0f} {byte_word}"
    for unit in _UNITS:
        size /= 1024
        if abs(size) < 1024 or unit == _UNITS[-1]:
            break
    return f"{size:.1f} {unit}"
