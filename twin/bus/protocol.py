"""The wire format of the twin's bus, in one module (docs/protocol.md is its specification).

Every message is a ZeroMQ multipart message. Its JSON header frame (UTF-8, no NaN/Infinity literals)
carries the protocol version, the message kind and, on the state socket, a sequence number; numeric
arrays travel as raw little-endian frames after the header, described by ``header["arrays"]``
(name, dtype, shape, C order). Nothing on the wire is a pickle.

Compatibility: a receiver ignores header fields and message kinds it does not know; a message whose
major version differs from :data:`PROTOCOL_MAJOR` is refused (the server replies ``invalid`` naming
both versions; a client drops it).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import struct
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twin.control.registry import STATUSES as REGISTRY_STATUSES
from twin.control.registry import Role

__all__ = [
    "ARRAY_DTYPES",
    "COMMANDS",
    "DEFAULT_COMMANDS",
    "DEFAULT_STATE",
    "MAX_HEADER_BYTES",
    "Message",
    "PROTOCOL_MAJOR",
    "PROTOCOL_VERSION",
    "MAX_SUBSCRIPTION_BYTES",
    "ProtocolError",
    "ROLES",
    "SPEED_MAX",
    "SPEED_MIN",
    "STATUSES",
    "TOPICS",
    "commands_endpoint_for",
    "decode_json",
    "decode_message",
    "encode_json",
    "encode_message",
    "frames_digest",
    "new_id",
    "subscription_allowed",
]

#: Version of the wire format (not of the package). Minor versions only add fields and kinds.
#: 1.1: heartbeats carry summary_seq/fields_seq; snapshots carry the exact frames of the last summary and
#: fields messages; the state digest is defined over those frames; versions are digits only; non-finite
#: numbers are refused in every field.
#: 1.2: names say what they hold and where it is measured: summary hall.it_load_w and hall.rack_input_w
#: instead of hall.it_power_w, racks.it_load_w instead of racks.it_power_w, hall power.ups_rated_va
#: instead of ups_rated_w (it held VA).
#:      also: the hall view carries the plan (boxes of racks, CRAHs, PDUs, aisles) and the sensors a training fault
#: may fail; summaries list the failed sensors; TRAINING also covers failed sensors and changed rack loads.
#:      also: summaries list each MV/LV transformer in parallel (sources.transformers).
#: 1.3: the ``whatif`` command (engineer): an N-1 set run on the Dask cluster from a fork of the live state;
#: its progress and result are ``event`` messages of type "whatif"; snapshots carry the recent ones (``whatifs``).
PROTOCOL_VERSION = "1.3"
PROTOCOL_MAJOR = 1
_VERSION_RE = re.compile(r"([0-9]{1,9})\.([0-9]{1,9})")

DEFAULT_STATE = "tcp://127.0.0.1:5556"  # PUB: summary, fields, events, heartbeats
DEFAULT_COMMANDS = "tcp://127.0.0.1:5557"  # ROUTER: snapshot and commands


def commands_endpoint_for(state_endpoint: str) -> str:
    """The commands endpoint beside a state endpoint: ``tcp://host:N`` → ``tcp://host:N+1`` (as the
    defaults, 5556 and 5557). Other transports have no default: ValueError asking for ``--commands``."""
    m = re.fullmatch(r"(tcp://.+):(\d+)", state_endpoint)
    if not m:
        raise ValueError(f"--connect {state_endpoint}: give --commands as well (only tcp://HOST:PORT "
                         f"endpoints have a default commands port, PORT + 1)")
    return f"{m.group(1)}:{int(m.group(2)) + 1}"


#: Roles a client may hold, lowest first (the setpoint registry's :class:`~twin.control.registry.Role`).
ROLES = tuple(role.name.lower() for role in Role)

#: Topics of the state socket (the first frame of every message on it; clients subscribe by prefix).
TOPICS = ("summary", "fields", "event", "heartbeat")

#: Reply statuses: the setpoint registry's, used for every command.
STATUSES = REGISTRY_STATUSES

#: Commands and the lowest role that may send them ("setpoint" is checked per setpoint by the registry).
COMMANDS = {
    "snapshot": "observer",
    "ping": "observer",
    "set_setpoint": "operator",
    "alarm_ack": "operator",
    "alarm_shelve": "operator",
    "alarm_unshelve": "operator",
    "pause": "operator",
    "resume": "operator",
    "set_speed": "operator",
    "checkpoint": "operator",
    "scenario_event": "engineer",
    "whatif": "engineer",
}

#: dtypes an array frame may have (little-endian on the wire).
ARRAY_DTYPES = ("float16", "float32", "float64", "int32", "int64", "uint8", "bool")

#: The live twin's speeds: simulated seconds per wall second that set_speed and --speed accept (besides
#: "max", as fast as the solver goes).
SPEED_MIN = 0.01
SPEED_MAX = 1e4

#: Largest header frame a server accepts, bytes (commands are small; a bigger frame is refused).
MAX_HEADER_BYTES = 64 * 1024

#: Longest subscription a state socket takes, bytes: a topic is at most 9 bytes, so anything near this
#: is hostile. A longer one makes the server drop the connection (ZMQ_MAXMSGSIZE on its XPUB socket).
MAX_SUBSCRIPTION_BYTES = 32

#: Every subscription a server applies: the prefixes of the topics ("" is all of them). Any other
#: subscription is ignored, so a peer can hold at most this many (a bound per peer by construction).
_SUBSCRIPTIONS = frozenset(t[:k].encode() for t in TOPICS for k in range(len(t) + 1))


def subscription_allowed(topic: bytes) -> bool:
    """Whether a state-socket subscription selects something the server publishes (a topic prefix)."""
    return topic in _SUBSCRIPTIONS


class ProtocolError(ValueError):
    """A message that does not follow the protocol (its text is the reason sent back)."""


def new_id() -> str:
    """A fresh command id (any unique string will do; uuid4 hex is what the Python client sends)."""
    return uuid.uuid4().hex


def _reject_constant(name: str) -> Any:
    raise ProtocolError(f"JSON constant {name} is not allowed (numbers must be finite)")


def _finite_float(text: str) -> float:
    # Python reads 1e999 as infinity: refuse it here, in every field, known to the reader or not.
    v = float(text)
    if not math.isfinite(v):
        raise ProtocolError(f"number {text[:40]} is out of the finite double range")
    return v


def encode_json(obj: Any) -> bytes:
    """Compact UTF-8 JSON; NaN and ±inf become null (JSON has no such numbers)."""
    return json.dumps(_finite(obj), separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode("utf-8")


def decode_json(data: bytes, *, max_bytes: int | None = None) -> dict:
    """A JSON object from a frame; ProtocolError for anything else (too big, not UTF-8, not an object,
    NaN/Infinity literals)."""
    if max_bytes is not None and len(data) > max_bytes:
        raise ProtocolError(f"header frame of {len(data):,} bytes exceeds the limit of {max_bytes:,}")
    try:
        text = bytes(data).decode("utf-8")
        obj = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except UnicodeDecodeError:
        raise ProtocolError("header frame is not UTF-8") from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ProtocolError(f"header frame is not JSON ({str(exc)[:80]})") from None
    except ValueError as exc:  # e.g. an integer literal beyond Python's digit limit
        raise ProtocolError(f"header frame holds a value JSON cannot carry here ({str(exc)[:80]})") from None
    if not isinstance(obj, dict):
        raise ProtocolError(f"header must be a JSON object, got {type(obj).__name__}")
    if max_bytes is not None:
        # Escapes such as "\ud800" decode to lone surrogates, which no UTF-8 can hold: refuse them now
        # rather than fail later when the audit log or a reply writes them.
        try:
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ProtocolError("header holds a lone UTF-16 surrogate escape (not valid Unicode text)") from None
    return obj


def _finite(obj: Any) -> Any:
    """Replace non-finite floats (and numpy scalars/arrays) by JSON-safe values, recursively."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _finite(obj.tolist())
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return _finite(float(obj))
    return obj


def check_version(header: dict) -> None:
    """ProtocolError unless the header's major version is ours."""
    v = header.get("protocol")
    match = _VERSION_RE.fullmatch(v) if isinstance(v, str) else None
    if match is None:
        shown = repr(v)[:40] if isinstance(v, str) else type(v).__name__
        raise ProtocolError(f"header field 'protocol' must be a version MAJOR.MINOR in digits like "
                            f"\"{PROTOCOL_VERSION}\", got {shown}")
    if int(match.group(1)) != PROTOCOL_MAJOR:
        raise ProtocolError(f"protocol version {v} is not supported; this side speaks {PROTOCOL_VERSION} "
                            f"(major {PROTOCOL_MAJOR})")


# A frame as a buffer: what zmq hands over with copy=True, or what we build (encode_message's arrays are
# zero-copy memoryviews). decode_message keeps received frames as such, without copying them again.
FrameBytes = bytes | bytearray | memoryview


@dataclass
class Message:
    """A decoded message: its header (a dict) and its arrays by name."""

    header: dict
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    frames: list[FrameBytes] = field(default_factory=list)  # the frames as received (the digest covers them)

    @property
    def kind(self) -> str | None:
        return self.header.get("kind")

    @property
    def seq(self) -> int | None:
        s = self.header.get("seq")
        return s if isinstance(s, int) else None


def encode_message(header: dict, arrays: dict[str, np.ndarray] | None = None) -> list[FrameBytes]:
    """Header frame (with ``arrays`` described in it) followed by one raw frame per array."""
    header = dict(header)
    header.setdefault("protocol", PROTOCOL_VERSION)
    frames: list[bytes | memoryview] = []
    specs = []
    for name, arr in (arrays or {}).items():
        a = np.ascontiguousarray(arr)
        if a.dtype.name not in ARRAY_DTYPES:
            raise ValueError(f"array {name!r}: dtype {a.dtype} is not one the protocol carries")
        if a.dtype.byteorder == ">":
            a = a.astype(a.dtype.newbyteorder("<"))
        specs.append({"name": name, "dtype": a.dtype.name, "shape": list(a.shape), "order": "C"})
        frames.append(a.data.cast("B") if a.size else b"")  # a.data: the array's buffer as a memoryview
    if specs:
        header["arrays"] = specs
    return [encode_json(header), *frames]


def decode_message(frames: list, *, max_header_bytes: int | None = None) -> Message:
    """Header + arrays from frames (the topic frame already removed); ProtocolError when malformed."""
    if not frames:
        raise ProtocolError("empty message: expected a JSON header frame")
    frames = [_bytes(f) for f in frames]
    header = decode_json(frames[0], max_bytes=max_header_bytes)
    check_version(header)
    specs = header.get("arrays", [])
    if not isinstance(specs, list):
        raise ProtocolError("header field 'arrays' must be a list")
    if len(frames) - 1 != len(specs):
        raise ProtocolError(f"header describes {len(specs)} array frames but {len(frames) - 1} follow it")
    arrays = {}
    for spec, frame in zip(specs, frames[1:]):
        if not isinstance(spec, dict):
            raise ProtocolError("each entry of 'arrays' must be an object")
        name, dtype, shape = spec.get("name"), spec.get("dtype"), spec.get("shape")
        if not isinstance(name, str) or dtype not in ARRAY_DTYPES:
            raise ProtocolError(f"array entry needs a string name and a dtype among {', '.join(ARRAY_DTYPES)}")
        if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
            raise ProtocolError(f"array {name!r}: shape must be a list of non-negative integers")
        if spec.get("order", "C") != "C":
            raise ProtocolError(f"array {name!r}: only order \"C\" is defined")
        buf = frame
        dt = np.dtype(dtype).newbyteorder("<")
        if len(buf) != dt.itemsize * math.prod(shape):
            raise ProtocolError(f"array {name!r}: {len(buf)} bytes do not fit {dtype} {shape}")
        arrays[name] = np.frombuffer(buf, dtype=dt).reshape(shape)
    return Message(header, arrays, frames)


def _bytes(frame: Any) -> FrameBytes:
    if isinstance(frame, (bytes, bytearray, memoryview)):
        return frame
    return frame.bytes  # zmq.Frame


def frames_digest(summary_frames: list | None, fields_frames: list | None) -> str:
    """The state digest (section 4 of docs/protocol.md): SHA-256, as lowercase hex, of the frames of the
    last summary message and of the last fields message exactly as published (topic frame excluded).

    Each message contributes its frame count, then each frame's length and bytes; the counts and lengths
    are unsigned 64-bit little-endian integers. A message not yet published contributes a count of 0.
    Any language reproduces it from the raw frames, without parsing JSON.
    """
    h = hashlib.sha256()
    for frames in (summary_frames or [], fields_frames or []):
        h.update(struct.pack("<Q", len(frames)))
        for f in frames:
            b = _bytes(f)
            h.update(struct.pack("<Q", len(b)))
            h.update(b)
    return h.hexdigest()
