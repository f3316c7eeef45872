"""The database lifecycle: create (from cached templates), update, back up, restore, copy, drop."""
