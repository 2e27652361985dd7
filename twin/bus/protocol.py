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
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "ARRAY_DTYPES",
    "COMMANDS",
    "DEFAULT_COMMANDS",
    "DEFAULT_STATE",
    "MAX_HEADER_BYTES",
    "Message",
    "PROTOCOL_MAJOR",
    "PROTOCOL_VERSION",
    "ProtocolError",
    "STATUSES",
    "TOPICS",
    "decode_json",
    "decode_message",
    "encode_json",
    "encode_message",
    "new_id",
    "state_digest",
]

#: Version of the wire format (not of the package). Minor versions only add fields and kinds.
PROTOCOL_VERSION = "1.0"
PROTOCOL_MAJOR = 1

DEFAULT_STATE = "tcp://127.0.0.1:5556"  # PUB: summary, fields, events, heartbeats
DEFAULT_COMMANDS = "tcp://127.0.0.1:5557"  # ROUTER: snapshot and commands

#: Topics of the state socket (the first frame of every message on it; clients subscribe by prefix).
TOPICS = ("summary", "fields", "event", "heartbeat")

#: Reply statuses: the setpoint registry's, used for every command.
STATUSES = ("ok", "clamped", "out_of_range", "not_writable", "denied", "interlock", "invalid")

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
}

#: dtypes an array frame may have (little-endian on the wire).
ARRAY_DTYPES = ("float16", "float32", "float64", "int32", "int64", "uint8", "bool")

#: Largest header frame a server accepts, bytes (commands are small; a bigger frame is refused).
MAX_HEADER_BYTES = 64 * 1024


class ProtocolError(ValueError):
    """A message that does not follow the protocol (its text is the reason sent back)."""


def new_id() -> str:
    """A fresh command id (any unique string will do; uuid4 hex is what the Python client sends)."""
    return uuid.uuid4().hex


def _reject_constant(name: str) -> Any:
    raise ProtocolError(f"JSON constant {name} is not allowed (numbers must be finite)")


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
        obj = json.loads(text, parse_constant=_reject_constant)
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
    if not isinstance(v, str):
        raise ProtocolError(f"header field 'protocol' must be a version string like \"{PROTOCOL_VERSION}\"")
    major = v.split(".", 1)[0]
    if major != str(PROTOCOL_MAJOR):
        raise ProtocolError(f"protocol version {v} is not supported; this side speaks {PROTOCOL_VERSION} "
                            f"(major {PROTOCOL_MAJOR})")


@dataclass
class Message:
    """A decoded message: its header (a dict) and its arrays by name."""

    header: dict
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def kind(self) -> str | None:
        return self.header.get("kind")

    @property
    def seq(self) -> int | None:
        s = self.header.get("seq")
        return s if isinstance(s, int) else None


def encode_message(header: dict, arrays: dict[str, np.ndarray] | None = None) -> list[bytes | memoryview]:
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
        frames.append(memoryview(a).cast("B") if a.size else b"")
    if specs:
        header["arrays"] = specs
    return [encode_json(header), *frames]


def decode_message(frames: list, *, max_header_bytes: int | None = None) -> Message:
    """Header + arrays from frames (the topic frame already removed); ProtocolError when malformed."""
    if not frames:
        raise ProtocolError("empty message: expected a JSON header frame")
    header = decode_json(_bytes(frames[0]), max_bytes=max_header_bytes)
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
        buf = _bytes(frame)
        dt = np.dtype(dtype).newbyteorder("<")
        if len(buf) != dt.itemsize * math.prod(shape):
            raise ProtocolError(f"array {name!r}: {len(buf)} bytes do not fit {dtype} {shape}")
        arrays[name] = np.frombuffer(buf, dtype=dt).reshape(shape)
    return Message(header, arrays)


def _bytes(frame: Any) -> bytes:
    if isinstance(frame, (bytes, bytearray, memoryview)):
        return frame
    return frame.bytes  # zmq.Frame


def state_digest(summary: dict | None, summary_seq: int | None, fields: Any | None, fields_seq: int | None) -> str:
    """SHA-256 of what a peer holds: the summary body (canonical JSON) and the field arrays' bytes.

    ``fields`` is (body, arrays) or None. Server and clients compute it the same way, so equal digests
    mean the client holds exactly what the server published.
    """
    h = hashlib.sha256()
    h.update(encode_json({"summary_seq": summary_seq, "fields_seq": fields_seq}))
    if summary is not None:
        h.update(encode_json(summary))
    if fields is not None:
        body, arrays = fields
        h.update(encode_json(body))
        for name in sorted(arrays):
            a = np.ascontiguousarray(arrays[name])
            h.update(name.encode())
            h.update(a.dtype.str.encode())
            h.update(memoryview(a).cast("B"))
    return h.hexdigest()
