"""The run store, the one source of truth: SQLite (runs, statuses, metric rows) plus one
folder per run (config, checkpoints, snapshots, stored metrics) and the users' uploads."""
