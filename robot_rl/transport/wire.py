"""Wire format between actors and the learner: one msgpack header frame plus one raw frame per array.

A message is a ZeroMQ multipart list ``[header, array_0, array_1, ...]``. The header is a msgpack
map ``{"v": PROTOCOL_VERSION, "kind": str, "h": {fields}, "a": [[name, dtype, shape], ...]}`` and
array ``i`` travels as the C-contiguous little-endian bytes of frame ``i + 1``. Nothing received is
unpickled or evaluated: the header holds only plain msgpack values, dtypes come from a fixed
allow-list, and every size is checked against the bytes actually received before numpy sees them,
so a hostile or corrupt peer can cause a `WireError` and nothing else.

Receivers should also cap what ZeroMQ buffers (``socket.setsockopt(zmq.MAXMSGSIZE, ...)``); the
checks here bound what decoding allocates, not what the socket accepted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import msgpack
import numpy as np

from robot_rl.errors import RobotRLError

PROTOCOL_VERSION = 2
MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # default cap on one message, all frames together
MAX_HEADER_BYTES = 64 * 1024  # a weights header for ~1000 tensors fits in a few tens of KiB
MAX_ARRAYS = 256
MAX_NDIM = 8  # an image batch is 4-D; nothing we send needs more
MAX_NAME_CHARS = 128
MAX_TEXT_CHARS = 512
MAX_NESTING = 4

# Little-endian on the wire whatever the host; one-byte types have no byte order.
DTYPES: dict[str, np.dtype] = {
    name: np.dtype(name).newbyteorder("<")
    for name in ("uint8", "int8", "int32", "int64", "float16", "float32", "float64", "bool")
}

HELLO = "hello"
WELCOME = "welcome"
REFUSE = "refuse"
TRANSITIONS = "transitions"
ACK = "ack"
WEIGHTS = "weights"
HEARTBEAT = "heartbeat"
KINDS = (HELLO, WELCOME, REFUSE, TRANSITIONS, ACK, WEIGHTS, HEARTBEAT)

Frames = list[bytes | memoryview]


class WireError(RobotRLError, ValueError):
    """A message could not be encoded or a received one is malformed, oversized or from another
    protocol version; the message says which part is wrong."""


def encode(
    kind: str,
    header: Mapping[str, Any],
    arrays: Mapping[str, np.ndarray] | None = None,
    max_bytes: int = MAX_MESSAGE_BYTES,
) -> Frames:
    """Frames for `socket.send_multipart(frames, copy=False)`; array frames are views, not copies,
    when the arrays are already C-contiguous little-endian."""
    if kind not in KINDS:
        raise WireError(f"unknown message kind {kind!r}; expected one of {', '.join(KINDS)}")
    if not isinstance(header, Mapping):
        raise WireError(f"{kind} header must be a dict, got {type(header).__name__}")
    _check_value(dict(header), f"{kind} header", MAX_NESTING, decoding=False)
    arrays = dict(arrays or {})
    if len(arrays) > MAX_ARRAYS:
        raise WireError(f"{kind} message has {len(arrays)} arrays; at most {MAX_ARRAYS} are allowed")
    specs, frames = [], []
    for name, value in arrays.items():
        _check_name(name, kind)
        try:
            array = np.asarray(value)
        except (TypeError, ValueError) as exc:  # e.g. a ragged list
            raise WireError(f"{kind} array {name!r} is not an array: {exc}") from None
        dtype_name = _dtype_name(array.dtype)
        if dtype_name is None:
            raise WireError(
                f"{kind} array {name!r} has dtype {array.dtype}; allowed dtypes are {', '.join(DTYPES)}"
            )
        if array.ndim > MAX_NDIM:
            raise WireError(f"{kind} array {name!r} has {array.ndim} dimensions; at most {MAX_NDIM}")
        # asarray, not ascontiguousarray: the latter turns a 0-d array into shape (1,).
        array = np.asarray(array, dtype=DTYPES[dtype_name], order="C")
        specs.append([name, dtype_name, list(array.shape)])
        frames.append(memoryview(array.reshape(-1).view(np.uint8)))
    try:
        head = msgpack.packb(
            {"v": PROTOCOL_VERSION, "kind": kind, "h": dict(header), "a": specs}, use_bin_type=True
        )
    except (TypeError, ValueError, OverflowError) as exc:
        raise WireError(f"{kind} header cannot be encoded: {exc}") from None
    if len(head) > MAX_HEADER_BYTES:
        raise WireError(f"{kind} header is {len(head)} bytes; at most {MAX_HEADER_BYTES}")
    total = len(head) + sum(frame.nbytes for frame in frames)
    if total > max_bytes:
        raise WireError(f"{kind} message is {total} bytes, over the {max_bytes}-byte limit")
    return [head, *frames]


def decode(
    frames: Sequence[Any], max_bytes: int = MAX_MESSAGE_BYTES
) -> tuple[str, dict[str, Any], dict[str, np.ndarray]]:
    """(kind, header fields, arrays) of a received multipart message. Arrays are views of the
    received frames, not copies (read-only for bytes and zmq frames); every claimed size is checked
    against the frame lengths before numpy sees a byte."""
    if not isinstance(frames, (list, tuple)):
        raise WireError(f"a message is a list of frames, got {type(frames).__name__}")
    if not frames:
        raise WireError("empty message: expected a header frame")
    if len(frames) > MAX_ARRAYS + 1:
        raise WireError(f"message has {len(frames)} frames; at most {MAX_ARRAYS + 1} are allowed")
    views = [_byte_view(frame, i) for i, frame in enumerate(frames)]
    total = sum(view.nbytes for view in views)
    if total > max_bytes:
        raise WireError(f"message is {total} bytes, over the {max_bytes}-byte limit")
    if views[0].nbytes > MAX_HEADER_BYTES:
        raise WireError(f"header frame is {views[0].nbytes} bytes; at most {MAX_HEADER_BYTES}")
    try:
        # msgpack caps every claimed length by the frame's own length, so a small frame cannot
        # ask for a large list; ext types come back as objects that _check_value refuses.
        head = msgpack.unpackb(views[0], raw=False, strict_map_key=True, use_list=True)
    except Exception as exc:  # msgpack raises several unrelated types for corrupt input
        raise WireError(f"header frame is not valid msgpack ({type(exc).__name__})") from None
    if not isinstance(head, dict) or set(head) != {"v", "kind", "h", "a"}:
        raise WireError("header frame is not a robot_rl message header (expected keys v, kind, h, a)")
    version, kind, header, specs = head["v"], head["kind"], head["h"], head["a"]
    if version != PROTOCOL_VERSION or type(version) is not int:
        raise WireError(
            f"peer speaks wire protocol version {_short(version)}, this side speaks {PROTOCOL_VERSION}: "
            "install the same robot_rl version on actor and learner"
        )
    if kind not in KINDS or type(kind) is not str:
        raise WireError(f"unknown message kind {_short(kind)}; expected one of {', '.join(KINDS)}")
    if not isinstance(header, dict):
        raise WireError(f"{kind} header fields must be a map")
    _check_value(header, f"{kind} header", MAX_NESTING, decoding=True)
    if not isinstance(specs, list) or len(specs) != len(views) - 1:
        raise WireError(
            f"{kind} header describes {_count(specs)} arrays but {len(views) - 1} array frames came"
        )
    arrays: dict[str, np.ndarray] = {}
    for index, (spec, view) in enumerate(zip(specs, views[1:]), start=1):
        name, dtype, shape = _check_spec(spec, index, kind, max_bytes)
        if name in arrays:
            raise WireError(f"{kind} message names array {name!r} twice")
        expected = dtype.itemsize * int(np.prod(shape, dtype=object))
        if view.nbytes != expected:
            raise WireError(
                f"{kind} array {name!r} claims {dtype.name}{tuple(shape)} = {expected} bytes, "
                f"frame {index} has {view.nbytes}"
            )
        array = np.frombuffer(view, dtype=dtype).reshape(shape)
        if dtype.kind == "b" and array.size and array.view(np.uint8).max() > 1:
            raise WireError(f"{kind} array {name!r} is bool but holds bytes other than 0 and 1")
        arrays[name] = array
    return kind, header, arrays


def _byte_view(frame: Any, index: int) -> memoryview:
    """A flat byte view of bytes, bytearray, memoryview or zmq.Frame, without copying."""
    if isinstance(frame, (str, int, float)) or frame is None:
        raise WireError(f"frame {index} is {type(frame).__name__}, not bytes")
    try:
        view = memoryview(frame)
        return view if view.format == "B" and view.ndim == 1 else view.cast("B")
    except (TypeError, ValueError) as exc:
        raise WireError(f"frame {index} is not a contiguous byte buffer ({exc})") from None


def _check_spec(spec: Any, index: int, kind: str, max_bytes: int) -> tuple[str, np.dtype, list[int]]:
    if not isinstance(spec, list) or len(spec) != 3:
        raise WireError(f"{kind} array spec {index} must be [name, dtype, shape]")
    name, dtype_name, shape = spec
    _check_name(name, kind)
    if type(dtype_name) is not str or dtype_name not in DTYPES:
        raise WireError(
            f"{kind} array {name!r} has dtype {_short(dtype_name)}; allowed dtypes are {', '.join(DTYPES)}"
        )
    dtype = DTYPES[dtype_name]
    if not isinstance(shape, list) or len(shape) > MAX_NDIM:
        raise WireError(f"{kind} array {name!r} shape must be a list of at most {MAX_NDIM} sizes")
    if not all(type(dim) is int and dim >= 0 for dim in shape):
        raise WireError(f"{kind} array {name!r} has shape {_short(shape)}; sizes must be integers >= 0")
    # Zero-size arrays are allowed, but not with absurd other dimensions: numpy would overflow on them.
    bound = dtype.itemsize
    for dim in shape:
        bound *= max(dim, 1)
        if bound > max_bytes:
            raise WireError(
                f"{kind} array {name!r} claims shape {_short(shape)}, over the {max_bytes}-byte limit"
            )
    return name, dtype, shape


def _check_name(name: Any, kind: str) -> None:
    if type(name) is not str or not 0 < len(name) <= MAX_NAME_CHARS:
        raise WireError(
            f"{kind} array name {_short(name)} must be a string of 1..{MAX_NAME_CHARS} characters"
        )


def _check_value(value: Any, where: str, depth: int, decoding: bool) -> None:
    """Header values are plain data only: None, bool, int, float, str, bytes, lists and str-keyed maps."""
    if value is None or type(value) in (bool, float, str, bytes):
        return
    if type(value) is int:
        if not -(2**63) <= value < 2**64:
            raise WireError(f"{where} holds an integer outside the 64-bit range")
        return
    containers = (list,) if decoding else (list, tuple)
    if type(value) in containers or type(value) is dict:
        if depth <= 0:
            raise WireError(f"{where} nests deeper than {MAX_NESTING} levels")
        if type(value) is dict:
            for key, item in value.items():
                if type(key) is not str:
                    raise WireError(f"{where} has a non-string key {_short(key)}")
                _check_value(item, f"{where} field {key!r}", depth - 1, decoding)
        else:
            for item in value:
                _check_value(item, where, depth - 1, decoding)
        return
    raise WireError(
        f"{where} holds a {type(value).__name__}; only None, bool, int, float, str, bytes, list, dict travel"
    )


def _dtype_name(dtype: np.dtype) -> str | None:
    for name, allowed in DTYPES.items():
        if dtype == allowed or (dtype.byteorder == ">" and dtype.newbyteorder("<") == allowed):
            return name
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _count(specs: Any) -> str:
    return str(len(specs)) if isinstance(specs, list) else "no list of"


# ---------------------------------------------------------------------------------------------
# Typed messages. Each knows its kind, its header fields and their types; from_frames() refuses a
# message of another kind, missing or extra fields, and values of the wrong type or range.

M = TypeVar("M", bound="Message")


@dataclasses.dataclass(frozen=True, eq=False)
class Message:
    KIND: ClassVar[str] = ""

    def _arrays(self) -> dict[str, np.ndarray]:
        return {}

    def _fields(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "arrays"}

    def to_frames(self, max_bytes: int = MAX_MESSAGE_BYTES) -> Frames:
        self._validate()
        return encode(self.KIND, self._fields(), self._arrays(), max_bytes)

    @classmethod
    def from_frames(cls: type[M], frames: Sequence[Any], max_bytes: int = MAX_MESSAGE_BYTES) -> M:
        kind, header, arrays = decode(frames, max_bytes)
        if kind != cls.KIND:
            raise WireError(f"expected message kind {cls.KIND!r}, received {kind!r}")
        return cls._build(header, arrays)

    @classmethod
    def _build(cls: type[M], header: dict[str, Any], arrays: dict[str, np.ndarray]) -> M:
        names = [f.name for f in dataclasses.fields(cls) if f.name != "arrays"]
        if set(header) != set(names):
            raise WireError(
                f"{cls.KIND} message must carry fields {', '.join(names)}, got {_short(sorted(header))}"
            )
        has_arrays = any(f.name == "arrays" for f in dataclasses.fields(cls))
        if arrays and not has_arrays:
            raise WireError(f"{cls.KIND} message carries no arrays, got {len(arrays)}")
        message = cls(**header, **({"arrays": arrays} if has_arrays else {}))
        message._validate()
        return message

    def _validate(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "arrays":
                if not isinstance(value, Mapping):
                    raise WireError(f"{self.KIND} arrays must be a dict of name -> array")
            elif f.type in ("str", str):
                if type(value) is not str or len(value) > MAX_TEXT_CHARS:
                    raise WireError(
                        f"{self.KIND} field {f.name!r} must be a string of at most {MAX_TEXT_CHARS}"
                    )
            elif f.type in ("int", int):
                low = -1 if f.name == "acked_seq" else 0
                if type(value) is not int or not low <= value < 2**63:
                    raise WireError(
                        f"{self.KIND} field {f.name!r} must be an integer >= {low}, got {_short(value)}"
                    )
            elif f.type in ("float", float) and (type(value) not in (int, float) or not np.isfinite(value)):
                raise WireError(f"{self.KIND} field {f.name!r} must be a finite number, got {_short(value)}")


@dataclasses.dataclass(frozen=True)
class Hello(Message):
    """First message of an actor: who it is and what it was configured with."""

    KIND: ClassVar[str] = HELLO
    actor_id: str
    config_hash: str
    spec_hash: str
    protocol_version: int = PROTOCOL_VERSION


@dataclasses.dataclass(frozen=True)
class Welcome(Message):
    """The learner accepted the actor; `weight_version` is the newest weights it will send."""

    KIND: ClassVar[str] = WELCOME
    actor_id: str
    weight_version: int


@dataclasses.dataclass(frozen=True)
class Refuse(Message):
    """The learner refused the actor; `reason` is the one-line explanation to show the user.
    `retry` 1: the learner does not know this connection (it restarted, or the connection is new):
    send Hello again and carry on; 0: a handshake mismatch that retrying cannot fix."""

    KIND: ClassVar[str] = REFUSE
    reason: str
    retry: int = 0


# eq=False: comparing dicts of arrays with == is ambiguous; compare the arrays themselves.
@dataclasses.dataclass(frozen=True, eq=False)
class TransitionBatch(Message):
    """`count` transitions with sequence numbers first_seq .. first_seq + count - 1, collected with
    policy weights `weight_version`. Every array is stacked along axis 0 (length `count`), e.g.
    state (count, n) float32, action, reward, done, and one (count, H, W, 3) uint8 per camera."""

    KIND: ClassVar[str] = TRANSITIONS
    actor_id: str
    first_seq: int
    count: int
    weight_version: int
    arrays: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)

    def _arrays(self) -> dict[str, np.ndarray]:
        return dict(self.arrays)

    def _validate(self) -> None:
        super()._validate()
        if not self.arrays:
            raise WireError("transitions message carries no arrays")
        for name, value in self.arrays.items():
            shape = np.shape(value)
            if not shape or shape[0] != self.count:
                raise WireError(
                    f"transitions array {name!r} has shape {shape}; its first axis must be count={self.count}"
                )


@dataclasses.dataclass(frozen=True)
class Ack(Message):
    """Every transition of `actor_id` up to and including `acked_seq` is stored (-1: none yet)."""

    KIND: ClassVar[str] = ACK
    actor_id: str
    acked_seq: int


# eq=False: comparing dicts of arrays with == is ambiguous; compare the arrays themselves.
@dataclasses.dataclass(frozen=True, eq=False)
class Weights(Message):
    """Policy parameters `version`, one array per named tensor (numpy, e.g. `t.detach().cpu().numpy()`)."""

    KIND: ClassVar[str] = WEIGHTS
    version: int
    arrays: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)

    def _arrays(self) -> dict[str, np.ndarray]:
        return dict(self.arrays)


@dataclasses.dataclass(frozen=True)
class Heartbeat(Message):
    """Liveness from `sender`; `time_s` is the sender's clock (seconds), for latency estimates only.
    From the learner, `hold` 1 asks simulated actors to pause: it has more new data than it can train
    on at its update-to-data ratio (robots never pause for it)."""

    KIND: ClassVar[str] = HEARTBEAT
    sender: str
    time_s: float
    hold: int = 0


MESSAGES: dict[str, type[Message]] = {
    cls.KIND: cls for cls in (Hello, Welcome, Refuse, TransitionBatch, Ack, Weights, Heartbeat)
}


def decode_message(frames: Sequence[Any], max_bytes: int = MAX_MESSAGE_BYTES) -> Message:
    """The typed message of whichever kind arrived."""
    kind, header, arrays = decode(frames, max_bytes)
    return MESSAGES[kind]._build(header, arrays)


def check_handshake(ours: Hello, theirs: Hello) -> None:
    """Raise WireError naming the first thing that differs: protocol version, config hash, robot spec hash."""
    who = f"actor {theirs.actor_id!r}"
    if ours.protocol_version != theirs.protocol_version:
        raise WireError(
            f"handshake refused: protocol version differs (ours {ours.protocol_version}, {who} "
            f"{theirs.protocol_version}); install the same robot_rl version on both machines"
        )
    for label, field in (("config", "config_hash"), ("robot spec", "spec_hash")):
        mine, other = getattr(ours, field), getattr(theirs, field)
        if mine != other:
            raise WireError(
                f"handshake refused: {label} hash differs (ours {mine[:12]}, {who} {other[:12]}); "
                f"start actor and learner with the same {label}"
            )
