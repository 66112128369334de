"""Training and inference: networks/, modules/ (Lightning), losses/, data/, inference/, launch/; entry points train.py, infer.py, sweep_gather.py."""

from data_prep.moved_modules import alias_moved_modules

# Old import paths of moved modules (issues and saved checkpoints name them; see data_prep/moved_modules.py).
alias_moved_modules({
    "lipsync_train.data.shard_index": "data_prep.shard_index",
    "lipsync_train.inference.media": "data_prep.media",
    "lipsync_train.audio_features": "data_prep.audio_features",
    "lipsync_train.mouth_mask": "data_prep.mouth_mask",
    "lipsync_train.models.syncnet_v2": "lipsync_train.networks.syncnet_v2",
    "lipsync_train.models": "lipsync_train.networks",
    "lipsync_train.noise_schedule": "lipsync_train.networks.noise_schedule",
    "lipsync_train.sync_scoring": "lipsync_train.networks.sync_scorer",
    "lipsync_train.syncnet_module": "lipsync_train.modules.syncnet_module",
    "lipsync_train.unet_module": "lipsync_train.modules.unet_module",
    "lipsync_train.sync_loss": "lipsync_train.losses.sync_loss",
    "lipsync_train.unet_windows": "lipsync_train.data.unet_windows",
    "lipsync_train.config_schema": "lipsync_train.launch.config_schema",
    "lipsync_train.cluster": "lipsync_train.launch.cluster",
    "lipsync_train.callbacks": "lipsync_train.launch.callbacks",
    "lipsync_train.inference.sync_check": "evaluation.metrics.sync_margin",
    "lipsync_train.demo": "evaluation.demo",
})
