"""CURVE key files and authenticated sockets: only clients whose key the learner holds get answers."""

import os
import socket as pysocket
import stat
import subprocess
import threading

import pytest
import zmq
from zmq.utils import z85

from robot_rl.errors import RobotRLError
from robot_rl.transport.keys import (
    curve_client,
    curve_server,
    generate_keypair,
    load_public_key,
    load_secret_key,
)

pytestmark = [
    pytest.mark.skipif(not zmq.has("curve"), reason="libzmq built without CURVE"),
    pytest.mark.solo,  # round trips within 1.5 s and free ports: run alone (setup.cfg)
]

# Any 127.x address is loopback on Linux; a non-default one checks nothing assumes 127.0.0.1.
HOST = "127.0.0.2"


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _free_port() -> int:
    with pysocket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def test_generate_writes_public_0644_and_secret_0600_and_refuses_overwrite(tmp_path):
    folder = tmp_path / "keys"
    public_path, secret_path = generate_keypair(folder, "learner")
    assert (public_path.name, secret_path.name) == ("learner.key", "learner.key_secret")
    assert _mode(folder) == 0o700
    assert _mode(public_path) == 0o644 and _mode(secret_path) == 0o600
    public, secret = load_secret_key(secret_path)
    assert load_public_key(public_path) == public and len(public) == len(secret) == 40
    assert z85.decode(public) != z85.decode(secret)
    assert len(z85.decode(secret)) == 32

    with pytest.raises(RobotRLError, match=r"already exists.*--force") as exc:
        generate_keypair(folder, "learner")
    assert "\n" not in str(exc.value)
    assert load_public_key(public_path) == public, "a refused overwrite leaves the old key"

    os.chmod(secret_path, 0o644)  # --force must not inherit a loosened mode
    new_public, _ = generate_keypair(folder, "learner", force=True)
    assert load_public_key(new_public) != public
    assert _mode(secret_path) == 0o600


def test_secret_is_created_private_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        public_path, secret_path = generate_keypair(tmp_path, "actor0")
    finally:
        os.umask(old)
    assert _mode(secret_path) == 0o600 and _mode(public_path) == 0o644


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "has 0 key lines, expected 1"),
        (b"too-short\n", "not a 40-character Z85 key"),
        (b"A" * 39 + b" \n", "not a 40-character Z85 key"),  # space is outside the Z85 alphabet
        (b"A" * 39 + b"\xff\n", "not Z85 text"),
        (b"A" * 40 + b"\n" + b"B" * 40 + b"\n", "has 2 key lines, expected 1"),
    ],
)
def test_load_public_key_rejects_malformed_files_naming_file_and_fix(tmp_path, content, message):
    path = tmp_path / "peer.key"
    path.write_bytes(content)
    with pytest.raises(RobotRLError, match=message) as exc:
        load_public_key(path)
    text = str(exc.value)
    assert str(path) in text and "robot-rl keys generate" in text and "\n" not in text


def test_load_secret_key_rejects_permissive_corrupt_and_missing_files(tmp_path):
    _, secret_path = generate_keypair(tmp_path, "learner")
    for loose in (0o640, 0o604):
        os.chmod(secret_path, loose)
        with pytest.raises(RobotRLError, match=f"chmod 600 {secret_path}"):
            load_secret_key(secret_path)
    os.chmod(secret_path, 0o600)

    public, secret = secret_path.read_bytes().split()
    other_public, _ = zmq.curve_keypair()
    secret_path.write_bytes(other_public + b"\n" + secret + b"\n")  # halves from different pairs
    with pytest.raises(RobotRLError, match=r"do not match.*--force"):
        load_secret_key(secret_path)

    secret_path.write_bytes(public + b"\n")  # only the public half
    with pytest.raises(RobotRLError, match="has 1 key lines, expected 2"):
        load_secret_key(secret_path)

    with pytest.raises(RobotRLError, match="does not exist"):
        load_secret_key(tmp_path / "nobody.key_secret")


def _ask(ctx: zmq.Context, port: int, setup=None, timeout_ms: int = 1500) -> bytes | None:
    """One request from a fresh REQ socket; None if no reply arrives in time."""
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, timeout_ms)
    sock.setsockopt(zmq.SNDTIMEO, timeout_ms)
    try:
        if setup is not None:
            setup(sock)
        sock.connect(f"tcp://{HOST}:{port}")
        sock.send(b"ping")
        if not sock.poll(timeout_ms, zmq.POLLIN):
            return None
        return sock.recv()
    finally:
        sock.close(linger=0)


def test_curve_server_answers_only_authorized_clients(tmp_path, caplog):
    learner_dir, actor_dir, stranger_dir = tmp_path / "learner", tmp_path / "actor", tmp_path / "stranger"
    authorized = tmp_path / "authorized"
    authorized.mkdir()
    server_public, server_secret = generate_keypair(learner_dir, "learner")
    actor_public, actor_secret = generate_keypair(actor_dir, "actor0")
    _, stranger_secret = generate_keypair(stranger_dir, "stranger")
    (authorized / "actor0.key").write_bytes(actor_public.read_bytes())

    ctx = zmq.Context()
    server = ctx.socket(zmq.REP)
    server.setsockopt(zmq.LINGER, 0)
    auth = curve_server(server, server_secret, authorized)
    try:
        port = _free_port()
        server.bind(f"tcp://{HOST}:{port}")
        served = []

        def authorized_client(sock):
            curve_client(sock, actor_secret, server_public)

        def stranger(sock):
            curve_client(sock, stranger_secret, server_public)

        # The REP socket answers from one worker thread; each client waits with a timeout.
        stop = threading.Event()

        def serve():
            while not stop.is_set():
                if server.poll(50, zmq.POLLIN):
                    served.append(server.recv())
                    server.send(b"pong")

        worker = threading.Thread(target=serve, daemon=True)
        worker.start()
        try:
            with caplog.at_level("WARNING", logger="robot_rl.transport.keys"):
                assert _ask(ctx, port, authorized_client) == b"pong"
                assert _ask(ctx, port, stranger, timeout_ms=700) is None
                assert _ask(ctx, port, None, timeout_ms=700) is None, "a plain client gets nothing"
                assert _ask(ctx, port, authorized_client) == b"pong", "refusals leave the server working"
        finally:
            stop.set()
            worker.join(2)
        assert served == [b"ping", b"ping"], "refused clients' requests never reach the server"
        assert any("unknown CURVE key" in r.getMessage() for r in caplog.records)
    finally:
        auth.stop()
        server.close(linger=0)
        ctx.term()


def test_curve_server_needs_a_private_secret_and_an_authorized_folder(tmp_path):
    _, secret = generate_keypair(tmp_path / "learner", "learner")
    ctx = zmq.Context()
    server = ctx.socket(zmq.REP)
    try:
        with pytest.raises(RobotRLError, match=r"authorized keys folder .* does not exist"):
            curve_server(server, secret, tmp_path / "missing")
        os.chmod(secret, 0o644)
        with pytest.raises(RobotRLError, match="chmod 600"):
            curve_server(server, secret, tmp_path)
    finally:
        server.close(linger=0)
        ctx.term()


def test_cli_writes_keys_and_refuses_overwrite_in_one_line(robot_rl_bin, tmp_path):
    folder = tmp_path / "keys"
    cmd = [robot_rl_bin, "keys", "generate", str(folder), "--name", "actor0"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert str(folder / "actor0.key") in result.stdout and str(folder / "actor0.key_secret") in result.stdout
    assert "authorized" in result.stdout
    assert _mode(folder / "actor0.key_secret") == 0o600
    first = load_public_key(folder / "actor0.key")

    again = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert again.returncode == 2
    assert again.stderr.startswith("error: ") and again.stderr.count("\n") == 1
    assert "--force" in again.stderr and "Traceback" not in again.stderr
    assert load_public_key(folder / "actor0.key") == first

    forced = subprocess.run([*cmd, "--force"], capture_output=True, text=True, timeout=60)
    assert forced.returncode == 0, forced.stderr
    assert load_public_key(folder / "actor0.key") != first
