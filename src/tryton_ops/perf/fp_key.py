"""The secret key of the call fingerprints (`fp`): random per deployment, in a 0600 file.

A fingerprint is an HMAC of a call's method and parameters. With a key anyone can derive
(it was the public deployment name), a stored fingerprint could be matched offline by guessing
the searched value; with a random key it cannot. The file is created on first use by whichever
process needs it first (link: one creator wins), replaced whole by `rotate`, and re-read by the
workers when it changes. The key is never logged, rendered into trytond.conf or stored elsewhere.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from tryton_ops.perf.errors import PerfError

KEY_BYTES = 32


class FingerprintKeyError(PerfError):
    """The key file cannot be read or written; the message says which and what to do."""


def _write_new(path: Path) -> tuple[bytes, Path]:
    """A new key in a private temporary file beside `path`."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(KEY_BYTES)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex() + "\n")
    return key, tmp


def _parse(path: Path, text: str) -> bytes:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        key = b""
    if len(key) < KEY_BYTES:
        raise FingerprintKeyError(
            f"{path} does not hold a fingerprint key: `tryton-ops perf rotate-key` writes a new one"
        )
    return key


def load(path: Path) -> bytes:
    """The key in `path`, created (0600) if there is none yet."""
    try:
        try:
            return _parse(path, path.read_text())
        except FileNotFoundError:
            key, tmp = _write_new(path)
            try:
                os.link(tmp, path)  # fails if another process created it meanwhile
            except FileExistsError:
                return _parse(path, path.read_text())
            finally:
                tmp.unlink()
            return key
    except OSError as exc:
        raise FingerprintKeyError(f"fingerprint key {path}: {exc.strerror or exc}") from None


def rotate(path: Path) -> None:
    """Replace the key (atomically; created if missing or damaged)."""
    try:
        _key, tmp = _write_new(path)
        tmp.replace(path)
    except OSError as exc:
        raise FingerprintKeyError(f"fingerprint key {path}: {exc.strerror or exc}") from None


class KeyFile:
    """The key as a long-running process sees it: re-read when the file changes."""

    def __init__(self, path: Path):
        self.path = path
        self._seen: tuple[int, int] | None = None
        self._key: bytes | None = None

    def _identity(self) -> tuple[int, int] | None:
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return None
        return info.st_ino, info.st_mtime_ns

    def current(self) -> bytes:
        """The key in force; raises FingerprintKeyError when it cannot be had."""
        seen = self._identity()  # before reading: a rotation meanwhile is seen next time
        if self._key is None or seen is None or seen != self._seen:
            self._key = load(self.path)
            self._seen = seen if seen is not None else self._identity()
        return self._key
