"""Running training: the config schema checked before work, SLURM requeue and resume, callbacks."""
