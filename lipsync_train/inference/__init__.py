"""Lip-sync inference: the diffusion pipeline (``pipeline.py``) and the video around it (``video.py``, ``media.py``)."""
