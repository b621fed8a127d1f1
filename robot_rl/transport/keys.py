"""CURVE keys for the actor/learner link: generate, load and check key files, and set up sockets.

A key pair is two files in one folder: ``<name>.key`` holds the public key (one line of Z85 text,
mode 0644, safe to copy anywhere) and ``<name>.key_secret`` holds the public key and then the secret
key (two lines, mode 0600, never leaves the machine it was made on). The learner's public key goes to
every actor; each actor's public key goes into the learner's authorized folder, and the learner
accepts only clients whose key is there (checked by a ZAP handler, see `curve_server`).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from robot_rl.errors import RobotRLError

if TYPE_CHECKING:
    import zmq

PUBLIC_SUFFIX = ".key"
SECRET_SUFFIX = ".key_secret"
Z85_KEY_CHARS = 40  # Z85 packs 4 bytes into 5 characters: 32-byte keys are 40 characters
Z85_ALPHABET = frozenset(
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
)

log = logging.getLogger(__name__)


def _require_curve() -> None:
    import zmq

    if not zmq.has("curve"):
        raise RobotRLError(
            f"libzmq {zmq.zmq_version()} was built without CURVE security: install pyzmq from its wheels "
            "(pip install --force-reinstall pyzmq), which bundle a libzmq with CURVE"
        )


def generate_keypair(
    directory: str | os.PathLike, name: str = "learner", force: bool = False
) -> tuple[Path, Path]:
    """Write ``<name>.key`` (public, 0644) and ``<name>.key_secret`` (0600) into `directory`,
    created 0700 if missing; returns (public_path, secret_path)."""
    import zmq

    _require_curve()
    if not name or "/" in name or name.startswith(".") or name != name.strip():
        raise RobotRLError(f"key name {name!r} must be a plain file name such as 'learner' or 'actor0'")
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise RobotRLError(f"{directory} is a file: choose a folder for the keys")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    public_path, secret_path = directory / f"{name}{PUBLIC_SUFFIX}", directory / f"{name}{SECRET_SUFFIX}"
    existing = [p for p in (public_path, secret_path) if p.exists()]
    if existing and not force:
        raise RobotRLError(
            f"{existing[0]} already exists: keep it, or pass --force to replace it "
            "(peers holding the old public key will be refused)"
        )
    public, secret = zmq.curve_keypair()
    # Remove first so O_EXCL holds and a forced overwrite cannot inherit an old file's looser mode.
    for path in existing:
        path.unlink()
    _write_new(secret_path, public + b"\n" + secret + b"\n", 0o600)
    _write_new(public_path, public + b"\n", 0o644)
    return public_path, secret_path


def _write_new(path: Path, data: bytes, mode: int) -> None:
    # The file is created with its final mode, so a secret is never world-readable, not even briefly;
    # fchmod undoes the umask, which could otherwise make the public key 0600 or similar.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
    finally:
        os.close(fd)


def _read_keys(path: Path, expected: int, what: str, fix: str) -> list[bytes]:
    try:
        text = path.read_bytes().decode("ascii")
    except FileNotFoundError:
        raise RobotRLError(f"{what} file {path} does not exist: {fix}") from None
    except IsADirectoryError:
        raise RobotRLError(f"{what} file {path} is a folder: pass the key file inside it") from None
    except UnicodeDecodeError:
        raise RobotRLError(f"{what} file {path} is not Z85 text (binary data): {fix}") from None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) != expected:
        raise RobotRLError(f"{what} file {path} has {len(lines)} key lines, expected {expected}: {fix}")
    for i, line in enumerate(lines):
        if len(line) != Z85_KEY_CHARS or not set(line) <= Z85_ALPHABET:
            raise RobotRLError(
                f"{what} file {path} line {i + 1} is not a {Z85_KEY_CHARS}-character Z85 key "
                f"(found {len(line)} characters): {fix}"
            )
    return [line.encode("ascii") for line in lines]


def load_public_key(path: str | os.PathLike) -> bytes:
    """The Z85 public key (40 bytes) in a ``.key`` file."""
    path = Path(path)
    fix = "copy the .key file written by `robot-rl keys generate` again"
    (public,) = _read_keys(path, 1, "public key", fix)
    return public


def load_secret_key(path: str | os.PathLike) -> tuple[bytes, bytes]:
    """(public, secret) Z85 keys from a ``.key_secret`` file; refuses a file others can read."""
    import zmq

    path = Path(path)
    fix = "regenerate it with `robot-rl keys generate DIR --name NAME --force`"
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise RobotRLError(f"secret key file {path} does not exist: {fix}") from None
    if stat.S_ISREG(mode) and mode & 0o077:
        raise RobotRLError(
            f"secret key file {path} is readable by others (mode {stat.S_IMODE(mode):04o}): "
            f"run `chmod 600 {path}`, and regenerate the key if others may have read it"
        )
    public, secret = _read_keys(path, 2, "secret key", fix)
    # A damaged or hand-edited file whose halves do not belong together would fail every handshake
    # with no hint why; catching it here names the file.
    if zmq.curve_public(secret) != public:
        raise RobotRLError(f"secret key file {path}: its public and secret keys do not match: {fix}")
    return public, secret


def load_authorized_keys(directory: str | os.PathLike) -> dict[bytes, str]:
    """Public keys of the clients allowed in: every ``*.key`` file in `directory`, by file stem."""
    directory = Path(directory)
    if not directory.is_dir():
        raise RobotRLError(
            f"authorized keys folder {directory} does not exist: "
            "create it and copy each actor's .key file into it"
        )
    keys = {load_public_key(p): p.stem for p in sorted(directory.glob(f"*{PUBLIC_SUFFIX}"))}
    if not keys:
        log.warning("no *.key files in %s: every client will be refused", directory)
    return keys


class _AuthorizedKeys:
    """ZAP credentials provider: a client is let in only if its public key is in the folder."""

    def __init__(self, keys: dict[bytes, str], directory: Path):
        self.keys, self.directory = keys, directory

    def callback(self, domain: str, key: bytes) -> bool:
        name = self.keys.get(key)
        if name is None:
            log.warning(
                "refused a client with unknown CURVE key %s: copy its .key file into %s to allow it",
                key.decode("ascii", "replace"),
                self.directory,
            )
            return False
        log.info("accepted client %s", name)
        return True


class _SharedAuthenticator:
    """ZeroMQ allows one ZAP handler per context: sockets of one context share it; the last
    `stop()` stops it."""

    _running: ClassVar[dict[int, tuple[Any, list[int]]]] = {}

    def __init__(self, context: Any, keys: dict[bytes, str], directory: Path):
        from zmq.auth.thread import ThreadAuthenticator

        self._key = id(context)
        entry = self._running.get(self._key)
        if entry is None:
            auth = ThreadAuthenticator(context, log=logging.getLogger(f"{__name__}.zap"))
            auth.start()
            entry = (auth, [0])
            self._running[self._key] = entry
        self.auth, refs = entry
        refs[0] += 1
        self.auth.configure_curve_callback("*", credentials_provider=_AuthorizedKeys(keys, directory))
        self._stopped = False

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        auth, refs = self._running[self._key]
        refs[0] -= 1
        if refs[0] == 0:
            del self._running[self._key]
            auth.stop()


def curve_server(
    socket: zmq.Socket, secret_file: str | os.PathLike, authorized_dir: str | os.PathLike
) -> _SharedAuthenticator:
    """Make `socket` a CURVE server that admits only keys in `authorized_dir`; call before bind().

    Returns the authenticator handle (shared by the sockets of one context); call its ``stop()``
    when the socket closes."""
    import zmq

    _require_curve()
    public, secret = load_secret_key(secret_file)
    keys = load_authorized_keys(authorized_dir)
    auth = _SharedAuthenticator(socket.context, keys, Path(authorized_dir))
    socket.setsockopt(zmq.CURVE_SERVER, 1)
    socket.setsockopt(zmq.CURVE_SECRETKEY, secret)
    socket.setsockopt(zmq.CURVE_PUBLICKEY, public)
    return auth


def curve_client(
    socket: zmq.Socket, secret_file: str | os.PathLike, server_public_file: str | os.PathLike
) -> None:
    """Make `socket` a CURVE client of the server whose public key is in `server_public_file`;
    call before connect()."""
    import zmq

    _require_curve()
    public, secret = load_secret_key(secret_file)
    server_public = load_public_key(server_public_file)
    socket.setsockopt(zmq.CURVE_SECRETKEY, secret)
    socket.setsockopt(zmq.CURVE_PUBLICKEY, public)
    socket.setsockopt(zmq.CURVE_SERVERKEY, server_public)
