"""Widgets of the console: the header, the banner, the command line and the eight views (one per file)."""
