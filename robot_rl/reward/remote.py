"""A vision-language model behind an OpenAI-compatible chat endpoint (a local vLLM or Ollama
server, say) asked a yes/no success question about the frames.

One question per frame: the frames (one per camera) go as base64 PNG data URLs, the answer's
first word decides (yes -> probability 1, no -> 0). Every call has a deadline: requests are
retried with a short back-off until it passes, then a `RemoteRewardError` names the server and
what went wrong. Answers are cached by a hash of the frames and the question, so a frame seen
twice (a reward node re-scoring, a replay relabel) costs one request.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.errors import RobotRLError
from robot_rl.reward.base import RewardModel, common_kwargs


class RemoteRewardError(RobotRLError):
    """The reward server is absent, too slow or answered something that is not yes/no."""


def png_bytes(image: np.ndarray) -> bytes:
    """A minimal RGB PNG (8-bit, no filter) of an HxWx3 uint8 array."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    h, w, _ = image.shape
    raw = b"".join(b"\x00" + image[row].tobytes() for row in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def parse_answer(reply: dict[str, Any]) -> bool:
    """yes/no from an OpenAI chat-completions reply; anything else raises RemoteRewardError."""
    try:
        content = reply["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise RemoteRewardError(
            f"the reward server's reply has no choices[0].message.content: {str(reply)[:80]}"
        ) from None
    if isinstance(content, list):  # some servers return content parts
        content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    words = str(content).strip().lower().replace(".", " ").replace(",", " ").split()
    if words and words[0] in ("yes", "no"):
        return words[0] == "yes"
    raise RemoteRewardError(f"the reward server answered {str(content)[:60]!r}, not yes or no")


class RemoteVLMReward(RewardModel):
    kind = "remote"

    def __init__(
        self,
        url: str,
        model: str,
        question: str,
        timeout_s: float = 10.0,
        deadline_s: float = 30.0,
        retries: int = 3,
        api_key: str | None = None,
        cache_size: int = 10000,
        **kw,
    ):
        kw.setdefault("threshold", 0.5)
        super().__init__(**kw)
        self.url = url.rstrip("/")
        self.model = model
        self.question = question
        self.timeout_s = float(timeout_s)
        self.deadline_s = float(deadline_s)
        self.retries = int(retries)
        # never saved: read from the caller (e.g. an environment variable) each time
        self.api_key = api_key
        self.cache: dict[str, bool] = {}
        self.cache_size = cache_size
        self.requests = 0

    def _endpoint(self) -> str:
        return self.url if self.url.endswith("/chat/completions") else f"{self.url}/chat/completions"

    def _key(self, frames: list[np.ndarray]) -> str:
        h = hashlib.sha256(self.question.encode())
        for f in frames:
            h.update(str(f.shape).encode())
            h.update(np.ascontiguousarray(f).tobytes())
        return h.hexdigest()

    def ask(self, frames: list[np.ndarray]) -> bool:
        """The server's yes/no for one set of frames (one per camera), cached by their hash."""
        key = self._key(frames)
        if key in self.cache:
            return self.cache[key]
        content: list[dict[str, Any]] = [{"type": "text", "text": self.question + " Answer yes or no."}]
        for f in frames:
            url = "data:image/png;base64," + base64.b64encode(png_bytes(f)).decode()
            content.append({"type": "image_url", "image_url": {"url": url}})
        body = json.dumps(
            {
                "model": self.model,
                "messages": [{"role": "user", "content": content}],
                "max_tokens": 3,
                "temperature": 0.0,
            }
        ).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        end = time.monotonic() + self.deadline_s
        problem = "no attempt made"
        for attempt in range(self.retries + 1):
            left = end - time.monotonic()
            if left <= 0:
                break
            request = urllib.request.Request(self._endpoint(), data=body, headers=headers, method="POST")
            self.requests += 1
            try:
                with urllib.request.urlopen(request, timeout=min(self.timeout_s, left)) as resp:
                    raw = resp.read()
                try:
                    reply = json.loads(raw)
                except ValueError:
                    raise RemoteRewardError(
                        f"the reward server at {self.url} sent something that is not JSON: {raw[:60]!r}"
                    ) from None
                answer = parse_answer(reply)
                if len(self.cache) >= self.cache_size:
                    self.cache.pop(next(iter(self.cache)))
                self.cache[key] = answer
                return answer
            except RemoteRewardError:
                raise  # a malformed answer is not fixed by asking again
            except urllib.error.HTTPError as exc:
                problem = f"HTTP {exc.code} {exc.reason}"
                if exc.code < 500 and exc.code != 429:
                    break  # the request itself is wrong (bad model name, bad path)
            except urllib.error.URLError as exc:
                reason = exc.reason
                problem = "timed out" if isinstance(reason, TimeoutError) else str(reason)
            except TimeoutError:
                problem = "timed out"
            except (ConnectionError, OSError) as exc:
                problem = str(exc) or type(exc).__name__
            if attempt < self.retries:
                time.sleep(max(0.0, min(0.2 * 2**attempt, end - time.monotonic())))
        raise RemoteRewardError(
            f"no usable answer from the reward server at {self.url} ({problem}): start an "
            "OpenAI-compatible VLM server there (e.g. vllm serve MODEL or ollama serve) or pass its --url"
        )

    def probability(self, images: dict[str, np.ndarray]) -> np.ndarray:
        n = len(images[self.cameras[0]])
        return np.array(
            [1.0 if self.ask([images[c][i] for c in self.cameras]) else 0.0 for i in range(n)],
            dtype=np.float64,
        )

    def _save_weights(self, folder: Path) -> dict[str, Any]:
        return {
            "url": self.url,
            "model": self.model,
            "question": self.question,
            "timeout_s": self.timeout_s,
            "deadline_s": self.deadline_s,
            "retries": self.retries,
        }

    @classmethod
    def _load(cls, folder: Path, meta: dict[str, Any]) -> RemoteVLMReward:
        keys = ("url", "model", "question", "timeout_s", "deadline_s", "retries")
        return cls(**{k: meta[k] for k in keys}, **common_kwargs(meta))
