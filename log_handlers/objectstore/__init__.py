"""Object-store task logs: immutable chunk objects written while a task runs, read back in order."""
