"""Widgets of the console: the header, the banner, the command line and the seven views (one per file)."""
