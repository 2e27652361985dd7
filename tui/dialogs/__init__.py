"""Modal dialogs of the console: setpoint edit, confirmation, shelve duration, training faults."""
