"""Training engine: trainer, checkpoints, precision, DDP, metrics."""
