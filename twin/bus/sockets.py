"""The server's two sockets, opened and secured: the state socket (XPUB) and the command socket (ROUTER).

Kept apart from :class:`~twin.bus.server.TwinServer` because every option here is a decision about
what a slow, hostile or departed peer may cost the server, and reads best in one place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import zmq

from twin.bus import protocol as P
from twin.bus.security import SecurityError, ServerKeys, is_loopback

if TYPE_CHECKING:
    from zmq.auth.thread import ThreadAuthenticator

__all__ = ["ServerSockets", "check_options", "open_sockets"]


@dataclass
class ServerSockets:
    pub: zmq.Socket  # XPUB: summaries, fields, events, heartbeats; reads subscriptions
    router: zmq.Socket  # ROUTER: commands in, replies out
    auth: ThreadAuthenticator | None  # the CURVE authenticator's thread, when keys are configured

    def close(self) -> None:
        for s in (self.pub, self.router):
            if not s.closed:
                s.close(linger=0)
        if self.auth is not None:
            self.auth.stop()
            self.auth = None


def check_options(state_endpoint: str, commands_endpoint: str, keys: ServerKeys | None, *,
                  rates: dict[str, float], max_role: str) -> None:
    """SecurityError (one line, naming the flag) for a bind or a setting the server must refuse."""
    for ep in (state_endpoint, commands_endpoint):
        if not is_loopback(ep) and keys is None:
            raise SecurityError(f"refusing to bind {ep}: it is reachable from other machines and no CURVE keys "
                                f"are configured (make them with `twin keys DIR`, then pass --keys DIR)")
    for flag, v in rates.items():
        if not (math.isfinite(v) and v > 0):
            raise SecurityError(f"{flag} {v:g}: must be a positive number")
    if max_role not in P.ROLES:
        raise SecurityError(f"--max-role {max_role!r}: use {', '.join(P.ROLES)}")


def open_sockets(ctx: zmq.Context, state_endpoint: str, commands_endpoint: str, keys: ServerKeys | None, *,
                 sndhwm: int) -> ServerSockets:
    """Bind both sockets (SecurityError when a bind fails; nothing is left open then)."""
    pub = ctx.socket(zmq.XPUB)
    router = ctx.socket(zmq.ROUTER)
    for s in (pub, router):
        s.setsockopt(zmq.LINGER, 0)
    pub.setsockopt(zmq.XPUB_MANUAL, 1)  # the publisher decides which subscriptions apply
    # A subscription message is one byte (1 subscribe, 0 unsubscribe) and the topic; a peer that sends
    # a longer one is disconnected by libzmq before the message is assembled.
    pub.setsockopt(zmq.MAXMSGSIZE, 1 + P.MAX_SUBSCRIPTION_BYTES)
    pub.setsockopt(zmq.SNDHWM, sndhwm)
    # A fixed kernel buffer (no TCP auto-tuning to megabytes): what waits in it for a slow subscriber
    # is old news, so keep it to a few messages and let ZeroMQ drop the rest at the high-water mark.
    pub.setsockopt(zmq.SNDBUF, 256 * 1024)
    router.setsockopt(zmq.ROUTER_MANDATORY, 0)  # a reply to a client that left is dropped
    router.setsockopt(zmq.MAXMSGSIZE, 16 * 1024 * 1024)  # beyond this a peer is disconnected
    router.setsockopt(zmq.SNDHWM, 50)  # snapshots of a large hall are megabytes each
    sockets = ServerSockets(pub, router, None)
    if keys is not None:
        from zmq.auth.thread import ThreadAuthenticator

        auth = sockets.auth = ThreadAuthenticator(ctx)
        auth.start()
        auth.configure_curve(domain="*", location=str(keys.clients_dir))
        for s in (pub, router):
            s.curve_secretkey = keys.secret
            s.curve_publickey = keys.public
            s.curve_server = True
    try:
        pub.bind(state_endpoint)
        router.bind(commands_endpoint)
    except zmq.ZMQError as exc:
        sockets.close()
        raise SecurityError(f"cannot bind {state_endpoint} / {commands_endpoint}: {exc}") from None
    return sockets
