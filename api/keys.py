"""API keys and roles: the key store behind ``Authorization: Bearer <key>``.

A key is ``clk_<id>_<secret>``: a 12-hex-digit id, which is not secret (it
names the key in listings and logs), and 256 random bits from ``secrets``.
The key is never stored: keys.json holds HMAC-SHA256(server secret, key).

The server secret is 32 random bytes (64 hex digits) in ``<data-dir>/key-secret``,
mode 0600, made on first use; or the file ``CAMPUSLAB_KEY_SECRET_FILE`` names
(a container secret, say), which CampusLab never makes or changes. It is never
logged and never written to keys.json, so keys.json alone (a backup, a copied
volume, a support bundle) cannot confirm a guessed key. Losing the secret loses
every key: restore it from a backup, or move keys.json aside and create new
keys. keys.json records a check value of the secret (an HMAC of a constant), so
a wrong secret file is an error at start-up, not every key quietly refused.

Why HMAC-SHA256 and not argon2/scrypt: slow, salted hashes exist to stop an
attacker who holds the hash file from guessing *low-entropy* passwords. A
256-bit random key cannot be guessed at any hash speed, and a key is checked on
every request: scrypt at its usual cost (n=2**14) takes tens of milliseconds of
CPU, which every request would pay (and a flood of bad keys would make cheap to
exhaust the server), for no gain. One HMAC-SHA256 takes about a microsecond.
Digests are compared with ``hmac.compare_digest`` (constant time).

Keys made by earlier versions are stored as plain SHA-256 (``"hash": "sha256"``).
They still verify, and each is rewritten as HMAC-SHA256 on its first successful
use, so no deployed key breaks.

The store is ``<data-dir>/keys.json``, written atomically (temporary file,
fsync, rename) with mode 0600 under an ``flock`` on ``keys.json.lock``, so the
CLI (``campuslab keys ...``) and a running server can both change it. The
server secret is made under the same lock, so two processes starting at once
end with one secret. A server notices a changed file on the next request (one
``stat`` per check), so a key revoked from the CLI is refused at once, without
a restart.
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
KEYS_FORMAT = "campuslab-api-keys/2"  # /1: every key plain SHA-256, as {"sha256": hex}
SECRET_FILE = "key-secret"  # beside keys.json
SECRET_FILE_ENV = "CAMPUSLAB_KEY_SECRET_FILE"  # names another secret file (never created)
SECRET_BYTES = 32
_SECRET_TEXT = re.compile(r"[0-9a-fA-F]{64}")
_SECRET_CHECK_MESSAGE = b"campuslab-api-keys secret check"
_DIGEST = re.compile(r"[0-9a-f]{64}")
_SECRET_CHECK = re.compile(r"[0-9a-f]{16}")
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
    """keys.json or the server secret cannot be used; the message says which file, why,
    and what to do."""


class HashScheme(StrEnum):
    """How a key's digest in keys.json was made."""

    HMAC_SHA256 = "hmac-sha256"  # HMAC-SHA256(server secret, key): every key made now
    SHA256 = "sha256"  # plain SHA-256, by earlier versions; upgraded on first use


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
    scheme: HashScheme
    digest: str  # hex digest of the whole key string


@dataclass(frozen=True)
class NewKey:
    """A freshly created key: ``secret`` is the only copy, shown to the user once."""

    key: ApiKey
    secret: str


def _hmac_digest(server_secret: bytes, key: str) -> str:
    return hmac.digest(server_secret, key.encode("utf-8"), "sha256").hex()


def _sha256_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _secret_check(server_secret: bytes) -> str:
    """A value that tells secrets apart and reveals nothing of them (an HMAC of a constant)."""
    return hmac.digest(server_secret, _SECRET_CHECK_MESSAGE, "sha256").hex()[:16]


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
        "hash": stored.scheme.value,
        "digest": stored.digest,
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
    if "hash" in item:
        if item["hash"] not in set(HashScheme):
            schemes = " or ".join(HashScheme)
            raise ValueError(f"key {key.id}: hash {item['hash']!r} is not {schemes}")
        scheme, digest = HashScheme(item["hash"]), str(item["digest"])
    else:  # format /1, before hmac-sha256
        scheme, digest = HashScheme.SHA256, str(item["sha256"])
    if not _DIGEST.fullmatch(digest):
        raise ValueError(f"key {key.id}: the {scheme} digest is not 64 hex digits")
    return _StoredKey(key, scheme, digest)


def _recovery(keys_file: Path) -> str:
    return (
        "Restore it from a backup. If it is lost, the keys in "
        f"{keys_file} can never be checked again: move {keys_file} aside and create "
        "new keys with `campuslab keys create` (each caller needs a new key)."
    )


def _read_secret(path: Path, keys_file: Path) -> bytes | None:
    """The server secret in ``path``; None when there is no such file.

    KeyStoreError when the file cannot be read or does not hold 64 hex digits. The
    message never quotes the file's content.
    """
    try:
        with open(path, "rb") as source:
            raw = source.read(1024)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise KeyStoreError(
            f"cannot read the API key secret {path}: {exc.strerror or exc}. Check that the "
            f"server's user may read it (mode 0600, owned by that user). {_recovery(keys_file)}"
        ) from None
    text = raw.strip()
    if not _SECRET_TEXT.fullmatch(text.decode("ascii", errors="replace")):
        raise KeyStoreError(
            f"the API key secret {path} is corrupt: it must hold {2 * SECRET_BYTES} hex "
            f"digits ({SECRET_BYTES} random bytes), not the {len(text)} bytes it holds. "
            + _recovery(keys_file)
        )
    return bytes.fromhex(text.decode("ascii"))


def _replace_file(path: Path, text: str, prefix: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary file, fsync, rename), mode 0600."""
    descriptor, temporary = tempfile.mkstemp(prefix=prefix, dir=path.parent)
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class KeyStore:
    """API keys, kept as HMAC-SHA256 digests in ``path`` (or only in memory when path is None).

    ``secret_file`` is the server secret: by default ``key-secret`` beside ``path``,
    made on first use. A ``secret_file`` given explicitly must exist; it is never
    made or changed. In memory, the secret is random and lives as long as the store.

    Raises KeyStoreError when keys.json or the secret cannot be used, so a server
    does not start with keys it cannot check. Thread-safe; several processes may
    share one file (see the module docstring).
    """

    def __init__(
        self,
        path: Path | None,
        *,
        secret_file: Path | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if path is None and secret_file is not None:
            raise ValueError("a key store in memory keeps its secret in memory; no secret_file")
        self.path = path
        self.secret_file = (
            secret_file if secret_file is not None or path is None else path.with_name(SECRET_FILE)
        )
        self._secret_given = secret_file is not None
        self._secret: bytes | None = secrets.token_bytes(SECRET_BYTES) if path is None else None
        self._clock = clock
        self._lock = threading.RLock()
        self._keys: dict[str, _StoredKey] = {}
        self._persisted_last_used: dict[str, datetime | None] = {}
        self._signature: tuple[int, int, int] | None = None
        if path is not None:
            self._load(strict=True)

    @classmethod
    def in_data_dir(cls, data_dir: Path, **kwargs: Any) -> KeyStore:
        """The key store of a CampusLab data folder: ``<data_dir>/keys.json``, with the
        server secret ``<data_dir>/key-secret``, or the file ``CAMPUSLAB_KEY_SECRET_FILE``
        names."""
        configured = os.environ.get(SECRET_FILE_ENV, "").strip()
        if configured and "secret_file" not in kwargs:
            kwargs["secret_file"] = Path(configured)
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

        Fast (one HMAC-SHA256 and a dict lookup by the key's id) and constant-time in
        the secret. Records when the key was last used, and rewrites a key stored by
        an earlier version (plain SHA-256) as HMAC-SHA256.
        """
        match = _KEY_PATTERN.fullmatch(secret) if len(secret) <= MAX_KEY_LENGTH else None
        if match is None:
            raise KeyRejected(KeyRejection.MALFORMED)
        key_id = match.group(1)
        with self._lock:
            self._refresh()
            stored = self._keys.get(key_id)
            if stored is None or not hmac.compare_digest(
                stored.digest, self._digest(stored, secret)
            ):
                raise KeyRejected(KeyRejection.UNKNOWN, key_id)
            if stored.key.revoked:
                raise KeyRejected(KeyRejection.REVOKED, key_id)
            if stored.scheme is HashScheme.SHA256:
                stored = self._upgrade(stored, secret)
            return self._touch(stored)

    # -- changing ----------------------------------------------------------------

    def create(self, role: str | Role, name: str) -> NewKey:
        """A new key; the returned ``secret`` is the only copy there will ever be."""
        parsed_role = check_key_role(role)
        clean_name = check_name(name)
        secret_part = secrets.token_urlsafe(32)
        with self._changing(needs_secret=True) as keys:
            key_id = secrets.token_hex(6)
            while key_id in keys:
                key_id = secrets.token_hex(6)
            secret = f"{KEY_PREFIX}{key_id}_{secret_part}"
            key = ApiKey(key_id, clean_name, parsed_role, self._clock())
            keys[key_id] = _StoredKey(key, HashScheme.HMAC_SHA256, self._hmac(secret))
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

    # -- internals: hashing and the server secret --------------------------------

    def _hmac(self, key: str) -> str:
        assert self._secret is not None  # loaded (or made) before any hmac-sha256 key exists
        return _hmac_digest(self._secret, key)

    def _digest(self, stored: _StoredKey, key: str) -> str:
        """``key``'s digest made the way ``stored``'s was."""
        if stored.scheme is HashScheme.HMAC_SHA256:
            return self._hmac(key)
        return _sha256_digest(key)

    def _upgrade(self, stored: _StoredKey, key: str) -> _StoredKey:
        """Rewrite an earlier version's SHA-256 entry as HMAC-SHA256 (that entry only).

        A failure is logged and the key still works, as SHA-256, until the next try.
        """
        key_id = stored.key.id
        try:
            with self._changing(needs_secret=True) as keys:
                current = keys.get(key_id)
                if current is not None and current.scheme is HashScheme.SHA256:
                    keys[key_id] = replace(
                        current, scheme=HashScheme.HMAC_SHA256, digest=self._hmac(key)
                    )
        except (OSError, KeyStoreError) as exc:
            log.warning("could not rewrite key %s as hmac-sha256 (it still works): %s", key_id, exc)
            return stored
        log.info(
            "rewrote API key %s, stored as sha256 by an earlier version, as hmac-sha256", key_id
        )
        return self._keys.get(key_id, stored)

    def _load_secret(self, keys: dict[str, _StoredKey], check: str | None) -> None:
        """Read the server secret if it exists; KeyStoreError when it is needed and cannot
        be read, or is not the one keys.json was written with."""
        assert self.path is not None and self.secret_file is not None
        if self._secret is None:
            self._secret = _read_secret(self.secret_file, self.path)
        if self._secret is None:
            self._refuse_missing_secret(keys)
        elif check is not None and not hmac.compare_digest(check, _secret_check(self._secret)):
            raise KeyStoreError(
                f"the API key secret {self.secret_file} is not the one the keys in {self.path} "
                f"were stored with (a different file, or a restored backup of only one of "
                f"the two). Use the matching {self.secret_file.name}. " + _recovery(self.path)
            )

    def _refuse_missing_secret(self, keys: dict[str, _StoredKey]) -> None:
        """KeyStoreError when the missing secret is needed; otherwise it is made on first use."""
        assert self.path is not None and self.secret_file is not None
        if self._secret_given:
            raise KeyStoreError(
                f"the API key secret {self.secret_file} does not exist. It was named "
                f"explicitly ({SECRET_FILE_ENV}), so CampusLab does not create it: create it "
                f"(`openssl rand -hex {SECRET_BYTES} > {self.secret_file}`, mode 0600), or "
                f"unset {SECRET_FILE_ENV} to use {self.path.with_name(SECRET_FILE)}. If "
                f"{self.path} already holds keys, restore the secret from a backup instead."
            )
        hashed = sum(1 for stored in keys.values() if stored.scheme is HashScheme.HMAC_SHA256)
        if hashed:
            raise KeyStoreError(
                f"the API key secret {self.secret_file} is missing, and the {hashed} key(s) "
                f"in {self.path} cannot be checked without it. " + _recovery(self.path)
            )

    def _make_secret(self) -> bytes:
        """A new server secret, written to the secret file (under the keys.json lock)."""
        assert self.secret_file is not None
        secret = secrets.token_bytes(SECRET_BYTES)
        try:
            self.secret_file.parent.mkdir(parents=True, exist_ok=True)
            _replace_file(self.secret_file, secret.hex() + "\n", prefix=".key-secret-")
        except OSError as exc:
            raise KeyStoreError(
                f"cannot write the API key secret {self.secret_file}: {exc.strerror or exc}"
            ) from None
        log.info("created the API key secret %s", self.secret_file)
        return secret

    # -- internals: keys.json ----------------------------------------------------

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
            keys, check = self._read() if signature is not None else ({}, None)
            self._load_secret(keys, check)
        except KeyStoreError:
            if strict:
                raise
            log.exception("keeping the keys loaded before; %s could not be used", self.path)
            return
        self._keys = keys
        self._signature = signature
        self._persisted_last_used = {k: s.key.last_used for k, s in keys.items()}

    def _read(self) -> tuple[dict[str, _StoredKey], str | None]:
        """The keys in keys.json, and the check value of the secret they were stored with."""
        assert self.path is not None
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
            items = [_from_json(item) for item in document["keys"]]
            check = document.get("secret_check")
            if check is not None and not (
                isinstance(check, str) and _SECRET_CHECK.fullmatch(check)
            ):
                raise ValueError("secret_check is not 16 hex digits")
        except FileNotFoundError:
            return {}, None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KeyStoreError(f"cannot read the API keys in {self.path}: {exc}") from None
        return {s.key.id: s for s in items}, check

    @contextlib.contextmanager
    def _changing(self, *, needs_secret: bool = False) -> Iterator[dict[str, _StoredKey]]:
        """Read-modify-write of the key file, under a lock shared with other processes.

        ``needs_secret``: make the server secret first if there is none yet. It is made
        under the same lock, so two processes making it at once end with one secret.
        """
        with self._lock:
            if self.path is None:
                yield self._keys
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock_path = self.path.with_name(self.path.name + ".lock")
            with open(os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600), "r+b") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                # the file, not our cache: another process may have written
                keys, check = self._read()
                self._load_secret(keys, check)  # a secret another process made is read here
                if needs_secret and self._secret is None:
                    self._secret = self._make_secret()
                yield keys
                self._write(keys)
                self._keys = keys
                self._signature = self._file_signature()
                self._persisted_last_used = {k: s.key.last_used for k, s in keys.items()}

    def _write(self, keys: dict[str, _StoredKey]) -> None:
        assert self.path is not None
        document: dict[str, Any] = {"format": KEYS_FORMAT, "hash": HashScheme.HMAC_SHA256.value}
        if self._secret is not None:
            document["secret_check"] = _secret_check(self._secret)
        document["keys"] = [_to_json(s) for s in sorted(keys.values(), key=lambda s: s.key.created)]
        _replace_file(self.path, json.dumps(document, indent=2) + "\n", prefix=".keys-")
