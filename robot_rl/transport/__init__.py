"""Actor/learner transport. `wire` is the message format (msgpack header + raw array frames, never
pickle); it needs no ZeroMQ import, so it can be used and tested on its own. `keys` makes and loads
CURVE key files and sets up authenticated sockets (ZeroMQ is imported only when a function needs it).
`channel` delivers transitions exactly once: Outbox (actor) and Inbox (learner) are pure logic, the
Sender/Receiver sockets import ZeroMQ when constructed. `weights` sends policy weights down, latest
only (WeightPublisher / WeightSubscriber, actor_weights / load_into); `liveness` is the pure
heartbeat and peer-timeout logic they use."""

from robot_rl.transport.channel import (
    AcceptReport,
    Inbox,
    Outbox,
    TransitionReceiver,
    TransitionSender,
)
from robot_rl.transport.keys import (
    curve_client,
    curve_server,
    generate_keypair,
    load_authorized_keys,
    load_public_key,
    load_secret_key,
)
from robot_rl.transport.liveness import HeartbeatTimer, PeerMonitor
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
