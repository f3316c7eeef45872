"""Access to the shared servers (databases and Redis): the layer just above config and errors."""
