"""Training, whatever is trained: the loop, its steps, data-parallel ranks, checkpoints, metrics, devices, and
the run folder it writes (its lock and status)."""
