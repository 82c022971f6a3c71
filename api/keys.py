"""API keys and roles: the key store behind ``Authorization: Bearer <key>``.

A key is ``clk_<id>_<secret>``: a 12-hex-digit id, which is not secret (it
names the key in listings and logs), and 256 random bits from ``secrets``.
Only the SHA-256 digest of the whole key is stored, never the key.

Why plain SHA-256 and not argon2/scrypt: slow, salted hashes exist to stop
an attacker who holds the hash file from guessing *low-entropy* passwords.
A 256-bit random secret cannot be guessed whatever the hash speed, so a slow
hash would only cost every request milliseconds of CPU for no gain (GitHub
tokens and most API-key schemes do the same). A server-side HMAC secret would
add a second file to protect beside keys.json and buys nothing here either.
Digests are compared with ``hmac.compare_digest`` (constant time).

The store is ``<data-dir>/keys.json``, written atomically (temporary file,
fsync, rename) with mode 0600 under an ``flock`` on ``keys.json.lock``, so the
CLI (``campuslab keys ...``) and a running server can both change it. A
server notices a changed file on the next request (one ``stat`` per check), so
a key revoked from the CLI is refused at once, without a restart.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

log = logging.getLogger("campuslab.api.keys")

KEYS_FILE = "keys.json"
KEY_PREFIX = "clk_"
_KEY_PATTERN = re.compile(r"^clk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
MAX_KEY_LENGTH = 128  # longer Authorization values are refused before hashing
MAX_NAME_LENGTH = 100
_NAME_PATTERN = re.compile(r"^[^\x00-\x1f\x7f]+$")
# last_used is kept in memory at once, and written to keys.json at most this often per key
LAST_USED_GRANULARITY = timedelta(minutes=5)


class Role(StrEnum):
    """Who the caller is. public < researcher < planner < facilities < admin.

    ``admin`` manages keys and may also see everything facilities sees: an
    admin can mint a facilities key anyway, so keeping them apart would add
    a step, not security.
    """

    PUBLIC = "public"
    RESEARCHER = "researcher"
    PLANNER = "planner"
    FACILITIES = "facilities"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def includes(self, other: Role) -> bool:
        """True when this role may do everything ``other`` may."""
        return self.rank >= other.rank


_RANKS = {role: rank for rank, role in enumerate(Role)}
# public needs no key, so no key has that role
KEY_ROLES: tuple[Role, ...] = (Role.RESEARCHER, Role.PLANNER, Role.FACILITIES, Role.ADMIN)


class KeyStoreError(RuntimeError):
    """keys.json cannot be read or written; the message says which file and why."""


class UnknownKey(KeyError):
    """No key with that id."""


class KeyRejection(StrEnum):
    """Why a presented key was refused; the ``reason`` label of the auth-failure counter."""

    MALFORMED = "malformed"
    UNKNOWN = "unknown"
    REVOKED = "revoked"


class KeyRejected(Exception):
    def __init__(self, reason: KeyRejection, key_id: str | None = None) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.key_id = key_id


@dataclass(frozen=True)
class ApiKey:
    """What is known about a key: everything but the key itself."""

    id: str
    name: str
    role: Role
    created: datetime
    last_used: datetime | None = None
    revoked: bool = False
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class _StoredKey:
    key: ApiKey
    sha256: str  # hex digest of the whole key string


@dataclass(frozen=True)
class NewKey:
    """A freshly created key: ``secret`` is the only copy, shown to the user once."""

    key: ApiKey
    secret: str


def key_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_name(name: str) -> str:
    """A key's name, stripped; ValueError when empty, too long or with control characters."""
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH or not _NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"a key name is 1 to {MAX_NAME_LENGTH} printable characters "
            "(e.g. 'Jane Doe, thermal comfort study')"
        )
    return name


def check_key_role(role: str | Role) -> Role:
    """A role a key may have; ValueError naming the valid roles otherwise."""
    valid = ", ".join(KEY_ROLES)
    try:
        parsed = Role(role)
    except ValueError:
        raise ValueError(f"role {role!r} is not one of: {valid}") from None
    if parsed not in KEY_ROLES:
        raise ValueError(f"role {parsed.value!r} needs no key; a key's role is one of: {valid}")
    return parsed


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


def _to_json(stored: _StoredKey) -> dict[str, Any]:
    key = stored.key
    return {
        "id": key.id,
        "name": key.name,
        "role": key.role.value,
        "created": _iso(key.created),
        "last_used": _iso(key.last_used),
        "revoked": key.revoked,
        "revoked_at": _iso(key.revoked_at),
        "sha256": stored.sha256,
    }


def _from_json(item: dict[str, Any]) -> _StoredKey:
    key = ApiKey(
        id=str(item["id"]),
        name=str(item["name"]),
        role=Role(item["role"]),
        created=_parse_time(item["created"]) or datetime.fromtimestamp(0, UTC),
        last_used=_parse_time(item.get("last_used")),
        revoked=bool(item.get("revoked", False)),
        revoked_at=_parse_time(item.get("revoked_at")),
    )
    digest = str(item["sha256"])
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ValueError(f"key {key.id}: sha256 is not a hex digest")
    return _StoredKey(key, digest)


class KeyStore:
    """API keys, kept as SHA-256 digests in ``path`` (or only in memory when path is None).

    Thread-safe; several processes may share one file (see the module docstring).
    """

    def __init__(
        self, path: Path | None, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.RLock()
        self._keys: dict[str, _StoredKey] = {}
        self._persisted_last_used: dict[str, datetime | None] = {}
        self._signature: tuple[int, int, int] | None = None
        if path is not None:
            self._load(strict=True)

    @classmethod
    def in_data_dir(cls, data_dir: Path, **kwargs: Any) -> KeyStore:
        """The key store of a CampusLab data folder: ``<data_dir>/keys.json``."""
        return cls(Path(data_dir) / KEYS_FILE, **kwargs)

    @classmethod
    def in_memory(cls, **kwargs: Any) -> KeyStore:
        """Keys that live as long as this object (tests, throw-away servers)."""
        return cls(None, **kwargs)

    # -- reading -----------------------------------------------------------------

    def list(self) -> list[ApiKey]:
        """Every key, revoked ones too, oldest first."""
        with self._lock:
            self._refresh()
            return sorted((s.key for s in self._keys.values()), key=lambda k: (k.created, k.id))

    def get(self, key_id: str) -> ApiKey:
        with self._lock:
            self._refresh()
            try:
                return self._keys[key_id].key
            except KeyError:
                raise UnknownKey(key_id) from None

    def verify(self, secret: str) -> ApiKey:
        """The key ``secret`` belongs to; KeyRejected (with the reason) otherwise.

        Fast (one SHA-256 and a dict lookup by the key's id) and constant-time in
        the secret. Records when the key was last used.
        """
        match = _KEY_PATTERN.fullmatch(secret) if len(secret) <= MAX_KEY_LENGTH else None
        if match is None:
            raise KeyRejected(KeyRejection.MALFORMED)
        key_id = match.group(1)
        digest = key_digest(secret)
        with self._lock:
            self._refresh()
            stored = self._keys.get(key_id)
            if stored is None or not hmac.compare_digest(stored.sha256, digest):
                raise KeyRejected(KeyRejection.UNKNOWN, key_id)
            if stored.key.revoked:
                raise KeyRejected(KeyRejection.REVOKED, key_id)
            return self._touch(stored)

    # -- changing ----------------------------------------------------------------

    def create(self, role: str | Role, name: str) -> NewKey:
        """A new key; the returned ``secret`` is the only copy there will ever be."""
        parsed_role = check_key_role(role)
        clean_name = check_name(name)
        secret_part = secrets.token_urlsafe(32)
        with self._changing() as keys:
            key_id = secrets.token_hex(6)
            while key_id in keys:
                key_id = secrets.token_hex(6)
            secret = f"{KEY_PREFIX}{key_id}_{secret_part}"
            key = ApiKey(key_id, clean_name, parsed_role, self._clock())
            keys[key_id] = _StoredKey(key, key_digest(secret))
        log.info("created API key %s (%r, role %s)", key_id, clean_name, parsed_role.value)
        return NewKey(key, secret)

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key for good (it stays listed, marked revoked). Idempotent."""
        with self._changing() as keys:
            stored = keys.get(key_id)
            if stored is None:
                raise UnknownKey(key_id)
            if not stored.key.revoked:
                revoked = replace(stored.key, revoked=True, revoked_at=self._clock())
                stored = keys[key_id] = replace(stored, key=revoked)
        log.info("revoked API key %s (%r)", key_id, stored.key.name)
        return stored.key

    # -- internals ---------------------------------------------------------------

    def _touch(self, stored: _StoredKey) -> ApiKey:
        now = self._clock()
        key = replace(stored.key, last_used=now)
        self._keys[key.id] = replace(stored, key=key)
        persisted = self._persisted_last_used.get(key.id)
        if self.path is not None and (
            persisted is None or now - persisted >= LAST_USED_GRANULARITY
        ):
            try:
                self._persist_last_used(key.id, now)
            except (OSError, KeyStoreError) as exc:
                log.warning("could not record when key %s was last used: %s", key.id, exc)
        return key

    def _persist_last_used(self, key_id: str, moment: datetime) -> None:
        with self._changing() as keys:
            stored = keys.get(key_id)
            if stored is not None and (
                stored.key.last_used is None or stored.key.last_used < moment
            ):
                keys[key_id] = replace(stored, key=replace(stored.key, last_used=moment))

    def _file_signature(self) -> tuple[int, int, int] | None:
        assert self.path is not None
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _refresh(self) -> None:
        """Reload keys.json when another process (or store object) has changed it."""
        if self.path is not None and self._file_signature() != self._signature:
            self._load(strict=False)

    def _load(self, *, strict: bool) -> None:
        assert self.path is not None
        signature = self._file_signature()
        try:
            keys = self._read() if signature is not None else {}
        except KeyStoreError:
            if strict:
                raise
            log.exception("keeping the keys loaded before; %s could not be read", self.path)
            return
        self._keys = keys
        self._signature = signature
        self._persisted_last_used = {k: s.key.last_used for k, s in keys.items()}

    def _read(self) -> dict[str, _StoredKey]:
        assert self.path is not None
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
            items = [_from_json(item) for item in document["keys"]]
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KeyStoreError(f"cannot read the API keys in {self.path}: {exc}") from None
        return {s.key.id: s for s in items}

    @contextlib.contextmanager
    def _changing(self) -> Iterator[dict[str, _StoredKey]]:
        """Read-modify-write of the key file, under a lock shared with other processes."""
        with self._lock:
            if self.path is None:
                yield self._keys
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock_path = self.path.with_name(self.path.name + ".lock")
            with open(os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600), "r+b") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                keys = self._read()  # the file, not our cache: another process may have written
                yield keys
                self._write(keys)
                self._keys = keys
                self._signature = self._file_signature()
                self._persisted_last_used = {k: s.key.last_used for k, s in keys.items()}

    def _write(self, keys: dict[str, _StoredKey]) -> None:
        assert self.path is not None
        document = {
            "format": "campuslab-api-keys/1",
            "hash": "sha256",
            "keys": [_to_json(s) for s in sorted(keys.values(), key=lambda s: s.key.created)],
        }
        descriptor, temporary = tempfile.mkstemp(prefix=".keys-", dir=self.path.parent)
        try:
            os.fchmod(descriptor, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as out:
                json.dump(document, out, indent=2)
                out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
