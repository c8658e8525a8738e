"""Salesforce record Ids: 15 case-sensitive characters plus a 3-character case-safe suffix."""

import re

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
# Characters 4-5 are the pod, 6 is reserved; sfsim numbers records in the last nine base-62 digits, so Ids sort
# in creation order (BASE62 is in ASCII order).
_POD = "5g0"
_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$")


def suffix(id15: str) -> str:
    """The three characters Salesforce appends so that an Id survives case-insensitive handling."""
    out = []
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = 0
        for i, ch in enumerate(chunk):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        out.append(_SUFFIX_CHARS[bits])
    return "".join(out)


def make_id(prefix: str, number: int) -> str:
    digits = []
    for _ in range(9):
        number, rem = divmod(number, 62)
        digits.append(BASE62[rem])
    id15 = prefix + _POD + "".join(reversed(digits))
    return id15 + suffix(id15)


def normalize(value: str) -> str | None:
    """The 18-character form of a 15- or 18-character Id, or None when it is not an Id at all."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        return None
    id15 = value[:15]
    expected = suffix(id15)
    if len(value) == 18 and value[15:].upper() != expected:
        return None
    return id15 + expected
