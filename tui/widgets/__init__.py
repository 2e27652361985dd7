"""Widgets of the console: the header, the banner, the command line and the six views (one per file)."""
