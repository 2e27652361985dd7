"""Where the server may listen and who its clients are: loopback by default, CURVE keys elsewhere.

Key folder made by ``twin keys DIR`` (ZeroMQ certificate files, as ``zmq.auth`` writes them)::

    DIR/server.key              the server's public key: give it to every client
    DIR/server.key_secret       the server's key pair: stays with the server
    DIR/clients/NAME.key        a client's public key and its role (metadata ``role``): read by the server
    DIR/NAME.key_secret         that client's key pair: hand it to that client only

On a non-loopback bind the role of each command comes from the key that signed the connection; on
loopback without keys the client states its role in the command (the console's ``--role`` flag), up
to the server's ``--max-role``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from twin.bus.protocol import ROLES

__all__ = ["ClientKeys", "SecurityError", "ServerKeys", "is_loopback", "load_server_keys", "make_keys",
           "load_client_keys"]


class SecurityError(ValueError):
    """A bind or key set-up that must not start (one line, shown to the user)."""


def is_loopback(endpoint: str) -> bool:
    """Whether a ZeroMQ endpoint is reachable only from this machine (tcp on loopback, ipc, inproc)."""
    if endpoint.startswith(("ipc://", "inproc://")):
        return True
    m = re.fullmatch(r"tcp://(\[[^\]]+\]|[^:]+):(\d+|\*)", endpoint)
    if not m:
        raise SecurityError(f"endpoint {endpoint!r} is not tcp://HOST:PORT, ipc://PATH or inproc://NAME")
    host = m.group(1).strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # an interface name or "*": reachable from elsewhere


@dataclass(frozen=True)
class ServerKeys:
    public: bytes
    secret: bytes
    roles: dict[bytes, str]  # z85 client public key → role
    clients_dir: Path
    names: dict[bytes, str]  # z85 client public key → the client's name (its key file's stem), for the audit


@dataclass(frozen=True)
class ClientKeys:
    """What a client needs to reach a CURVE server: its own key pair and the server's public key."""

    public: bytes
    secret: bytes
    server_public: bytes


def make_keys(folder: Path, clients: dict[str, str] | None = None) -> list[Path]:
    """Create the server's key pair (if missing) and a key pair per client name → role.

    Files are ZeroMQ certificates (``zmq.auth.load_certificate`` reads them); a client's public file,
    the one the server reads, carries its role as metadata.
    """
    import zmq

    folder = Path(folder)
    clients = clients if clients is not None else {r: r for r in ROLES}
    for name, role in clients.items():
        if role not in ROLES:
            raise SecurityError(f"client {name}: role {role!r} is not one of {', '.join(ROLES)}")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name == "server" or name.startswith("."):
            raise SecurityError(f"client name {name!r}: use letters, digits, '.', '_' or '-' (not 'server')")
    (folder / "clients").mkdir(parents=True, exist_ok=True)
    written = []
    if not (folder / "server.key_secret").exists():
        pub, sec = zmq.curve_keypair()
        written += [_write_cert(folder / "server.key", pub), _write_cert(folder / "server.key_secret", pub, sec)]
    for name, role in clients.items():
        pub, sec = zmq.curve_keypair()
        written += [_write_cert(folder / "clients" / f"{name}.key", pub, role=role),
                    _write_cert(folder / f"{name}.key_secret", pub, sec, role=role)]
    return written


def _write_cert(path: Path, public: bytes, secret: bytes | None = None, *, role: str | None = None) -> Path:
    kind = "secret" if secret else "public"
    lines = [f"#   ZeroMQ CURVE {kind} certificate, made by `twin keys`",
             "#   " + ("keep this file private: it holds a secret key" if secret else "public: safe to share"),
             "", "metadata"]
    if role:
        lines.append(f'    role = "{role}"')
    lines += ["curve", f'    public-key = "{public.decode()}"']
    if secret:
        lines.append(f'    secret-key = "{secret.decode()}"')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if secret:
        path.chmod(0o600)
    return path


def load_server_keys(folder: Path) -> ServerKeys:
    import zmq.auth

    folder = Path(folder)
    try:
        public, secret = zmq.auth.load_certificate(folder / "server.key_secret")
    except (OSError, ValueError) as exc:
        raise SecurityError(f"{folder / 'server.key_secret'}: cannot load the server's keys ({exc}); "
                            f"make them with `twin keys {folder}`") from None
    roles, names = {}, {}
    for cert in sorted((folder / "clients").glob("*.key")):
        try:
            pub, _ = zmq.auth.load_certificate(cert)
        except (OSError, ValueError) as exc:
            raise SecurityError(f"{cert}: not a ZeroMQ certificate ({exc})") from None
        m = re.search(r'^\s*role\s*=\s*"([a-z]+)"', cert.read_text(encoding="utf-8"), re.M)
        role = m.group(1) if m else ROLES[0]  # no role stated: the lowest
        if role not in ROLES:
            raise SecurityError(f"{cert}: metadata.role {role!r} is not one of {', '.join(ROLES)}")
        roles[pub] = role
        names[pub] = cert.stem
    if secret is None:
        raise SecurityError(f"{folder / 'server.key_secret'}: holds no secret key")
    return ServerKeys(public, secret, roles, folder / "clients", names)


def load_client_keys(key_secret: Path, server_key: Path) -> ClientKeys:
    import zmq.auth

    try:
        public, secret = zmq.auth.load_certificate(key_secret)
        server_public, _ = zmq.auth.load_certificate(server_key)
    except (OSError, ValueError) as exc:
        raise SecurityError(f"cannot load CURVE keys ({exc})") from None
    if secret is None:
        raise SecurityError(f"{key_secret}: holds no secret key (give the client its .key_secret file)")
    return ClientKeys(public, secret, server_public)
