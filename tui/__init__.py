"""The operator console (textual): `twin console` and `twin up`.

It talks to the twin only through twin.bus (its client), as the design asks; :mod:`tui.app` holds the
app, :mod:`tui.cli` the commands. Importing the package does not import textual.
"""

__all__: list[str] = []
