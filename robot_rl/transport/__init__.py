"""Actor/learner transport.

- `wire`: the message format (msgpack header + raw array frames, never pickle); no ZeroMQ import.
- `keys`: CURVE key files and authenticated sockets (ZeroMQ imported only when a function needs it).
- `channel`: transitions exactly once; Outbox (actor) and Inbox (learner) are pure logic.
- `sockets`: their TransitionSender/TransitionReceiver, which import ZeroMQ when constructed.
- `weights`: policy weights down, latest only (WeightPublisher / WeightSubscriber, actor_weights /
  load_into); `liveness`: the pure heartbeat and peer-timeout logic they use.
"""

from robot_rl.transport.channel import AcceptReport, Inbox, Outbox
from robot_rl.transport.keys import (
    curve_client,
    curve_server,
    generate_keypair,
    load_authorized_keys,
    load_public_key,
    load_secret_key,
)
from robot_rl.transport.liveness import HeartbeatTimer, PeerMonitor
from robot_rl.transport.sockets import TransitionReceiver, TransitionSender
from robot_rl.transport.weights import WeightPublisher, WeightSubscriber, actor_weights, load_into
from robot_rl.transport.wire import (
    ACK,
    HEARTBEAT,
    HELLO,
    KINDS,
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    REFUSE,
    TRANSITIONS,
    WEIGHTS,
    WELCOME,
    Ack,
    Heartbeat,
    Hello,
    Message,
    Refuse,
    TransitionBatch,
    Weights,
    Welcome,
    WireError,
    check_handshake,
    decode,
    decode_message,
    encode,
)

__all__ = [
    "ACK",
    "HEARTBEAT",
    "HELLO",
    "KINDS",
    "MAX_MESSAGE_BYTES",
    "PROTOCOL_VERSION",
    "REFUSE",
    "TRANSITIONS",
    "WEIGHTS",
    "WELCOME",
    "AcceptReport",
    "Ack",
    "Heartbeat",
    "HeartbeatTimer",
    "Hello",
    "Inbox",
    "Message",
    "Outbox",
    "PeerMonitor",
    "Refuse",
    "TransitionBatch",
    "TransitionReceiver",
    "TransitionSender",
    "WeightPublisher",
    "WeightSubscriber",
    "Weights",
    "Welcome",
    "WireError",
    "actor_weights",
    "check_handshake",
    "curve_client",
    "curve_server",
    "decode",
    "decode_message",
    "encode",
    "generate_keypair",
    "load_authorized_keys",
    "load_into",
    "load_public_key",
    "load_secret_key",
]
