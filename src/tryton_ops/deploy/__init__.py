"""Running a deployment: rendered server configs and the local stack supervisor."""
