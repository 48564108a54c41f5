"""Optional Bearer API keys with two scopes: `read` (embed, search, info) and `admin` (also index updates).

With no keys configured every route is open (the default bind address is loopback). Keys are kept only as
SHA-256 digests, so the lookup does not compare secrets byte by byte.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Literal

from codesift.serve.errors import Forbidden, Unauthorized

Scope = Literal["read", "admin"]


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class KeyRing:
    def __init__(self, keys: Mapping[str, str]):
        self._scopes = {_digest(k): s for k, s in keys.items()}

    @property
    def enabled(self) -> bool:
        return bool(self._scopes)

    def check(self, authorization: str | None, need: Scope) -> None:
        """Raise Unauthorized (no or unknown key) or Forbidden (a read key on an admin route)."""
        if not self._scopes:
            return
        if not authorization or not authorization[:7].lower() == "bearer ":
            raise Unauthorized("this server needs an API key: send the header 'Authorization: Bearer KEY'")
        scope = self._scopes.get(_digest(authorization[7:].strip()))
        if scope is None:
            raise Unauthorized("unknown API key")
        if need == "admin" and scope != "admin":
            raise Forbidden("this API key is read-only; index updates need a key with the admin scope",
                            code="admin_scope_required")


def parse_key_specs(specs: list[str]) -> dict[str, str]:
    """`KEY` or `KEY:SCOPE` (scope read or admin; default read), as given to --api-key or in --api-keys-file."""
    keys: dict[str, str] = {}
    for spec in specs:
        spec = spec.strip()
        if not spec or spec.startswith("#"):
            continue
        key, _, scope = spec.rpartition(":") if spec.endswith((":read", ":admin")) else (spec, "", "read")
        if len(key) < 16:
            raise ValueError(f"API key '{key[:4]}...' is {len(key)} characters; use at least 16")
        keys[key] = scope
    return keys
