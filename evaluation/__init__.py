"""Evaluation: every metric behind one registry (metrics/, registry.py), lipsync-eval (cli.py), and the demo (demo/), the top floor."""

from data_prep.moved_modules import alias_moved_modules

# Old import paths of moved modules (issues and saved checkpoints name them; see data_prep/moved_modules.py).
alias_moved_modules({
    "evaluation.lse": "evaluation.metrics.lse",
    "evaluation.lse_runner": "evaluation.metrics.lse_runner",
    "evaluation.expert_lse": "evaluation.metrics.expert_lse",
    "evaluation.fid": "evaluation.metrics.fid",
    "evaluation.reconstruction": "evaluation.metrics.reconstruction",
})
