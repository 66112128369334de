"""Shared test setup: generated data (clips, shards, videos), tiny models, composed configs, the local SLURM cluster."""
