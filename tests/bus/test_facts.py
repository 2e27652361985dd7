"""Facts the bus owns and every client uses: the commands endpoint, the roles, the speed limits."""

from __future__ import annotations

import pytest

from twin.bus import protocol as P


def test_commands_endpoint_is_the_next_port():
    """tcp://HOST:N → tcp://HOST:N+1 (the defaults are a pair); other transports must name it."""
    assert P.commands_endpoint_for(P.DEFAULT_STATE) == P.DEFAULT_COMMANDS
    assert P.commands_endpoint_for("tcp://[::1]:7000") == "tcp://[::1]:7001"
    with pytest.raises(ValueError, match="give --commands"):
        P.commands_endpoint_for("ipc:///tmp/twin")


def test_the_viewer_and_the_console_use_the_bus_endpoint_rule():
    """One rule for both clients: the console re-exports the bus's, the viewer only re-types its error."""
    import tui.cli
    import viewer.sources

    assert tui.cli.commands_endpoint_for is P.commands_endpoint_for
    assert viewer.sources.commands_endpoint_for("tcp://h:9") == "tcp://h:10"
    with pytest.raises(viewer.sources.ViewerError, match="give --commands"):
        viewer.sources.commands_endpoint_for("inproc://x")


def test_roles_and_statuses_are_the_registry_s():
    """The bus's roles are the registry's Role names, lowest first; its statuses the registry's."""
    from twin.bus import security
    from twin.control.registry import STATUSES, Role

    assert P.ROLES == tuple(r.name.lower() for r in sorted(Role)) == ("observer", "operator", "engineer")
    assert security.ROLES is P.ROLES and P.STATUSES is STATUSES


def test_cli_roles_and_speeds_come_from_the_protocol():
    """`twin serve --max-role` and the console's --role offer the protocol's roles; --speed takes the
    protocol's range, ends included, and refuses just outside it."""
    import argparse

    import tui.cli
    import twin.cli

    def choices(parser, command, option):
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
        return next(a for a in sub._actions if option in a.option_strings).choices

    parser = twin.cli._parser()
    assert tuple(choices(parser, "serve", "--max-role")) == P.ROLES
    assert tuple(choices(parser, "console", "--role")) == P.ROLES == tuple(tui.cli.ROLES)
    lo, hi = P.SPEED_MIN, P.SPEED_MAX
    assert twin.cli._speed(str(lo)) == lo and twin.cli._speed(str(hi)) == hi
    for bad in (lo / 2, hi * 2):
        with pytest.raises(argparse.ArgumentTypeError, match=f"within {lo:g} … {hi:.0f}"):
            twin.cli._speed(str(bad))


def test_ashrae_ranges_have_one_owner():
    """The alarms, the bus's hall description and the console's fallback read the hall schema's ranges."""
    from tui.format import inlet_state
    from twin.control import alarms
    from twin.model import schema

    assert alarms.ASHRAE_RECOMMENDED_C is schema.ASHRAE_RECOMMENDED_C
    assert alarms.ASHRAE_ALLOWABLE_C is schema.ASHRAE_ALLOWABLE_C
    lo, hi = schema.ASHRAE_ALLOWABLE_C["A1"]
    assert inlet_state(hi + 0.1, None).plain == "above allowable" and inlet_state(hi - 0.1, None).plain == "above rec."
