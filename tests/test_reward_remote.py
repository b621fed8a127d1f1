"""The remote VLM backend against a small OpenAI-style server on 127.0.0.1 started by the test:
answers, caching, retries, and the ways a server fails (slow, malformed, gone) without hanging."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from robot_rl.reward import load_model
from robot_rl.reward.remote import RemoteRewardError, RemoteVLMReward, png_bytes

# exact request counts under 0.5 s request timeouts: run alone (setup.cfg)
pytestmark = pytest.mark.solo


class _Server:
    """Answers /v1/chat/completions according to `mode`; records the requests it got."""

    def __init__(self):
        self.mode = "yes"
        self.requests: list[dict] = []
        self.failures_left = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "body": body})
                if outer.mode == "slow":
                    time.sleep(1.5)
                if outer.failures_left > 0:
                    outer.failures_left -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                if outer.mode == "garbage":
                    payload = b"<html>not json</html>"
                elif outer.mode == "no_choices":
                    payload = json.dumps({"error": "model is loading"}).encode()
                elif outer.mode == "chatty":
                    payload = _reply("I think the cube might be lifted")
                else:
                    text = "Yes." if outer.mode in ("yes", "slow") else "no"
                    payload = _reply(text)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _reply(text: str) -> bytes:
    return json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}).encode()


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.close()


def _frames(n: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"front": rng.integers(0, 255, size=(n, 16, 16, 3), dtype=np.uint8)}


def _model(url: str, **kw) -> RemoteVLMReward:
    kw.setdefault("timeout_s", 0.5)
    kw.setdefault("deadline_s", 2.0)
    return RemoteVLMReward(url, "tiny-vlm", "Is the red cube lifted off the table?", cameras=["front"], **kw)


def test_yes_no_answers_become_decisions_and_frames_travel_as_png(server):
    model = _model(server.url)
    p, ok = model.decide(_frames(2))
    assert p.tolist() == [1.0, 1.0] and ok.tolist() == [True, True]
    request = server.requests[0]
    assert request["path"] == "/v1/chat/completions"
    content = request["body"]["messages"][0]["content"]
    assert "red cube" in content[0]["text"]
    url = content[1]["image_url"]["url"]
    png = base64.b64decode(url.split(",", 1)[1])
    assert url.startswith("data:image/png;base64,") and png[:8] == b"\x89PNG\r\n\x1a\n"
    # the PNG holds exactly the frame: decode its single IDAT chunk
    idat = png[png.index(b"IDAT") + 4 : png.index(b"IEND") - 8]
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(16, 16 * 3 + 1)
    np.testing.assert_array_equal(raw[:, 1:].reshape(16, 16, 3), _frames(2)["front"][0])
    server.mode = "no"
    assert model.decide(_frames(1, seed=7))[1].tolist() == [False]


def test_answers_are_cached_by_frame_hash(server):
    model = _model(server.url)
    frames = _frames(3)
    model.probability(frames)
    assert len(server.requests) == 3
    server.mode = "no"  # a cached frame is not asked again, so its answer stays
    assert model.probability(frames).tolist() == [1.0, 1.0, 1.0]
    assert len(server.requests) == 3
    assert model.probability(_frames(1, seed=9)).tolist() == [0.0]
    assert len(server.requests) == 4


def test_a_server_error_is_retried(server):
    server.failures_left = 2
    model = _model(server.url, retries=3)
    assert model.probability(_frames(1)).tolist() == [1.0]
    assert len(server.requests) == 3


def test_timeout_gives_up_by_the_deadline(server):
    server.mode = "slow"
    model = _model(server.url, timeout_s=0.3, deadline_s=1.0, retries=10)
    t0 = time.monotonic()
    with pytest.raises(RemoteRewardError, match="timed out"):
        model.probability(_frames(1))
    assert time.monotonic() - t0 < 2.0


@pytest.mark.parametrize(
    ("mode", "message"), [("garbage", "not JSON"), ("no_choices", "no choices"), ("chatty", "not yes or no")]
)
def test_malformed_replies_are_one_clear_error(server, mode, message):
    server.mode = mode
    with pytest.raises(RemoteRewardError, match=message) as err:
        _model(server.url).probability(_frames(1))
    assert "\n" not in str(err.value)
    assert len(server.requests) == 1  # asking again would not fix a malformed answer


def test_dead_server_fails_fast_with_the_fix():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens on this port now
    model = _model(f"http://127.0.0.1:{port}/v1", retries=2, deadline_s=3.0)
    t0 = time.monotonic()
    with pytest.raises(RemoteRewardError) as err:
        model.probability(_frames(1))
    assert time.monotonic() - t0 < 3.5
    text = str(err.value)
    assert f"127.0.0.1:{port}" in text and "vllm serve" in text and "\n" not in text


def test_remote_model_round_trips_without_its_key(server, tmp_path):
    model = _model(server.url, api_key="secret-token", threshold=0.5)
    folder = model.save(tmp_path / "remote")
    assert "secret-token" not in (folder / "reward_model.json").read_text()
    again = load_model(folder)
    assert isinstance(again, RemoteVLMReward)
    assert (again.url, again.model, again.question) == (model.url, model.model, model.question)
    assert again.probability(_frames(1)).tolist() == [1.0]


def test_png_encoder_matches_dimensions():
    img = np.zeros((5, 7, 3), dtype=np.uint8)
    data = png_bytes(img)
    assert int.from_bytes(data[16:20], "big") == 7 and int.from_bytes(data[20:24], "big") == 5
