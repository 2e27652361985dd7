"""The wire format: headers, array frames, versions, malformed frames."""

from __future__ import annotations

import json

import numpy as np
import pytest

from twin.bus import protocol as P


def test_arrays_round_trip_with_dtype_shape_and_order(rng):
    """Arrays come back bit for bit: dtype, shape and C order as the header describes them."""
    arrays = {"t_c": rng.normal(25, 3, (3, 4, 5)).astype(np.float32),
              "velocity_m_s": rng.normal(0, 1, (3, 4, 5, 3)).astype(np.float16),
              "mask": rng.random((7,)) > 0.5, "empty": np.zeros((0, 3), dtype=np.float64)}
    arrays["t_c"][0, 0, 0] = np.nan
    frames = P.encode_message({"kind": "fields", "seq": 7}, arrays)
    msg = P.decode_message([bytes(f) for f in frames])
    assert msg.kind == "fields" and msg.seq == 7 and msg.header["protocol"] == P.PROTOCOL_VERSION
    assert [a["name"] for a in msg.header["arrays"]] == list(arrays)
    for name, a in arrays.items():
        b = msg.arrays[name]
        assert b.dtype == a.dtype and b.shape == a.shape
        assert a.tobytes() == b.tobytes()


def test_header_is_plain_json_a_reader_without_numpy_can_use():
    """Non-finite floats become null; numpy scalars become JSON numbers."""
    frame = P.encode_message({"kind": "summary", "body": {"x": float("nan"), "y": np.float32(1.5),
                                                          "z": np.arange(3), "b": np.bool_(True)}})[0]
    obj = json.loads(frame)
    assert obj["body"] == {"x": None, "y": 1.5, "z": [0, 1, 2], "b": True}


@pytest.mark.parametrize("frames, reason", [
    ([], "empty message"),
    ([b"\xff\xfe"], "not UTF-8"),
    ([b"[1, 2]"], "JSON object"),
    ([b'{"protocol": "1.0", "x": NaN}'], "NaN"),
    ([b'{"protocol": "2.0"}'], "not supported"),
    ([b'{"kind": "x"}'], "protocol"),
    ([b'{"protocol": "1.0", "arrays": [{"name": "a", "dtype": "float32", "shape": [2]}]}'], "1 array frames"),
    ([b'{"protocol": "1.0", "arrays": [{"name": "a", "dtype": "float32", "shape": [2]}]}', b"abc"], "do not fit"),
    ([b'{"protocol": "1.0", "arrays": [{"name": "a", "dtype": "object", "shape": [1]}]}', b"a"], "dtype"),
    ([b'{"protocol": "1.0", "arrays": [{"name": "a", "dtype": "uint8", "shape": [-1]}]}', b"a"], "shape"),
])
def test_malformed_messages_raise_protocol_error_with_a_reason(frames, reason):
    """Every way a message can be wrong is a ProtocolError whose text says what (it becomes the reply)."""
    with pytest.raises(P.ProtocolError, match=reason):
        P.decode_message(frames)


def test_minor_versions_and_unknown_fields_are_accepted():
    """Compatibility rule: same major version, unknown fields ignored."""
    msg = P.decode_message([b'{"protocol": "1.7", "kind": "summary", "future_field": {"a": 1}}'])
    assert msg.kind == "summary"


def test_header_size_limit():
    with pytest.raises(P.ProtocolError, match="exceeds"):
        P.decode_json(b'{"a": "' + b"x" * 100 + b'"}', max_bytes=50)


def test_the_minimal_client_in_the_protocol_document_works():
    """docs/protocol.md's own example client, run as written against a real server (endpoints swapped)."""
    import re
    from pathlib import Path

    from tests.bus.conftest import ServerThread

    doc = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")
    code = re.search(r"## 10\..*?```python\n(.*?)```", doc, re.S).group(1)
    with ServerThread(summary_hz=50.0) as s:
        code = code.replace("tcp://127.0.0.1:5556", s.state_ep).replace("tcp://127.0.0.1:5557", s.commands_ep)
        printed = []
        exec(compile(code, "protocol.md", "exec"), {"print": lambda *a, **k: printed.append(a)})
    assert printed[0][0] == "Tiny test hall" and printed[0][-1] == s.twin.net.to_grid(
        np.zeros(s.twin.net.n)).T.shape
    assert printed[1] == ("ok",)
    times = [p[0] for p in printed[2:]]
    assert 15 <= len(times) <= 20 and times == sorted(times)  # updates at or below the snapshot are skipped
    assert s.server.state.controls.registry.read("CRAH-01.supply_temp_setpoint") == 19.0


@pytest.mark.parametrize("version", ["1.-1", "1.0-beta", "1", "1.0.0", " 1.0", "1.0 ", "1.x", "１.0", "", "v1.0"])
def test_versions_are_major_dot_minor_in_ascii_digits(version):
    """Anything but MAJOR.MINOR in digits is refused, whatever its major version looks like."""
    with pytest.raises(P.ProtocolError, match="MAJOR.MINOR"):
        P.check_version({"protocol": version})


@pytest.mark.parametrize("number", ["1e999", "-1e999", "1.5e308000"])
def test_numbers_beyond_the_double_range_are_refused_in_any_field(number):
    """1e999 would read as infinity: refused even in a field no one reads."""
    with pytest.raises(P.ProtocolError, match="finite"):
        P.decode_json(b'{"protocol": "1.1", "unknown_field": ' + number.encode() + b"}")


def test_subscriptions_allowed_are_the_topic_prefixes():
    """"" and every prefix of a topic; nothing longer, nothing else."""
    assert P.subscription_allowed(b"") and P.subscription_allowed(b"sum") and P.subscription_allowed(b"fields")
    assert not P.subscription_allowed(b"summaryX") and not P.subscription_allowed(b"x" * 20)
    assert max(len(t) for t in P.TOPICS) <= P.MAX_SUBSCRIPTION_BYTES


def test_the_digest_is_defined_on_frames_and_changes_with_any_byte(rng):
    """The digest is the documented SHA-256 over counts, lengths and bytes; one flipped byte changes it."""
    import hashlib
    import struct

    summary = [b'{"kind":"summary","seq":3}']
    fields = [b'{"kind":"fields","seq":2}', rng.bytes(40), b""]
    h = hashlib.sha256(struct.pack("<Q", 1) + struct.pack("<Q", len(summary[0])) + summary[0] + struct.pack("<Q", 3))
    for f in fields:
        h.update(struct.pack("<Q", len(f)) + f)
    assert P.frames_digest(summary, fields) == h.hexdigest()
    flipped = bytearray(fields[1])
    flipped[7] ^= 1
    assert P.frames_digest(summary, [fields[0], bytes(flipped), b""]) != h.hexdigest()
    # Nothing published yet: two zero counts.
    assert P.frames_digest(None, None) == hashlib.sha256(bytes(16)).hexdigest()
