"""Bearer keys, and the rule that a server without keys stays on loopback.

>>> keys = ApiKeys(["sk-one", "sk-two"])
>>> keys.allows("Bearer sk-two"), keys.allows("Bearer sk-three"), keys.allows(None)
(True, False, False)
>>> ApiKeys([]).allows(None)
True
>>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("localhost"), is_loopback("0.0.0.0")
(True, True, True, False)
"""

from __future__ import annotations

import functools
import hmac
import ipaddress

from orchestrator.errors import UsageError

__all__ = ["ApiKeys", "check_bind", "is_loopback"]


class ApiKeys:
    """The keys a client may present as ``Authorization: Bearer KEY``; none means auth is off."""

    def __init__(self, keys: list[str]) -> None:
        self._keys = [k.encode() for k in keys if k]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def allows(self, authorization: str | None) -> bool:
        if not self._keys:
            return True
        scheme, _, presented = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return False
        given = presented.strip().encode()
        # Compare with every key, so the time taken says nothing about which one nearly matched.
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(given, key)
        return matched


@functools.lru_cache(maxsize=256)  # every request's Host header is checked; few distinct ones
def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, keys: ApiKeys, *, insecure_no_auth: bool) -> None:
    """Refuse to serve beyond loopback without keys, unless explicitly told to."""
    if keys.enabled or is_loopback(host) or insecure_no_auth:
        return
    raise UsageError(
        f"refusing to serve on {host} without API keys: anyone who can reach it could spend your "
        "members' budgets; set [server] api_keys or SHOAL_API_KEYS, bind to 127.0.0.1, "
        "or pass --insecure-no-auth"
    )
