"""Every metric of the project, one module each; ``evaluation.registry`` names them for ``lipsync-eval`` and the demo."""
