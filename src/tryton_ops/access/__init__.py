"""Access to the shared servers, the database and Redis: how to connect, and the one error each
raises when it cannot be reached. The layer just above config and errors; the parts build on it.
"""
