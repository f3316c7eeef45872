"""Database lifecycle and operator commands, as a library the CLI calls."""
