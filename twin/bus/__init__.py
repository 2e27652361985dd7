"""The twin's bus: a versioned ZeroMQ protocol, the server that publishes a running twin and takes
commands, and the client that viewers and consoles use (docs/protocol.md is the specification)."""
