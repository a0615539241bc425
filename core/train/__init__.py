"""Training, whatever is trained: the loop, its steps, data-parallel ranks, checkpoints, metrics, devices."""
