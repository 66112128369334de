"""Data loading for training: shard index, sync-pair windows, the Lightning DataModule."""
