"""The main job end to end: ``lipsync-demo out_dir=DIR``, from nothing to a scored lip-synced Arabic video.

``runner.py`` keeps the stage records (what finished, with which settings) so
a second run reuses finished stages; ``stages.py`` holds the seven stages,
each a thin call into the project's own workflows; ``outputs.py`` draws the
training curves and the side-by-side video; ``cli.py`` is the Hydra entry.
"""
