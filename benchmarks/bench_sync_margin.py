"""The tiny recipe's judged sync margin over training seeds, beside its null control: mean, spread and worst seed.

    python benchmarks/bench_sync_margin.py --out runs/bench_margin                        # seeds 1234 0 1 2 3
    python benchmarks/bench_sync_margin.py --out runs/bench_margin --seeds 1234 0 --unet-steps 700 --no-null

The null control (``data.audio_from=other_clip``) trains the same recipe with the same seed and budget on the
same frames, but with every clip's audio taken from another speaker's clip: whatever margin it shows is what
training without a usable audio signal gives, and the acceptance bounds must sit above it.

The chain of ``tests/lipsync_train/test_unet_sync_margin.py`` through the same command lines: generated data
(``lipsync-make-data``, 8 speakers x 6 videos) -> ``lipsync-prep`` -> the SyncNet expert (``experiment=syncnet``,
the UNet's SyncNet loss) and the independent judge (``experiment=sync_judge``) once -> one
``experiment=unet_tiny`` run per seed -> :func:`evaluation.metrics.sync_margin.sync_margin` on the same test
clips with the test's settings (4 clips x 50 frames, DDIM 10, guidance 1, references half a clip away), judged
by the judge. Finished steps are reused when the script runs again (delete ``--out`` to start over). Writes
``OUT/results.json`` and prints one row per seed and the mean +- standard deviation.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


SUMMARY_KEYS = ("margin", "wins", "in_sync", "confidence_vs_driving", "confidence_vs_other", "ground_truth_confidence")


def cli(module: str, *args: str, log: Path) -> float:
    """Run one console command (``python -m module args``) with its output in ``log``; -> seconds."""
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        code = subprocess.run([sys.executable, "-m", module, *args], stdout=fh, stderr=subprocess.STDOUT,
                              env={**os.environ, "WANDB_MODE": "offline"}).returncode
    if code:
        sys.exit(f"{module} failed (exit {code}); see {log}")
    return time.perf_counter() - t0


def train(out: Path, name: str, args: list[str], timings: dict) -> Path:
    ckpt = out / name / "checkpoints" / "last.ckpt"
    if not (out / name / "metrics.json").is_file():  # written when a fit finishes
        timings[name] = cli("lipsync_train.train", *args, f"paths.output_dir={out / name}", "logger=csv",
                            log=out / f"{name}.log")
    return ckpt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1234, 0, 1, 2, 3])
    parser.add_argument("--no-null", dest="null", action="store_false", help="skip the null control runs")
    parser.add_argument("--unet-overrides", nargs="*", default=[], help="more lipsync-train overrides for the UNet")
    parser.add_argument("--unet-steps", type=int, default=700)
    parser.add_argument("--expert-steps", type=int, default=1000)
    parser.add_argument("--judge-steps", type=int, default=1000)
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--frames", type=int, default=50)
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    data, prep, timings = out / "data", out / "prep", {}
    if not (data / "manifest.jsonl").is_file():
        timings["data"] = cli("data_prep.synth.cli", f"out_dir={data}", "n_broken=0", log=out / "data.log")
    if not (prep / "index.json").is_file():
        timings["prep"] = cli("data_prep.cli", f"manifest={data / 'manifest.jsonl'}", f"out_dir={prep}",
                              "shards.max_samples=8", log=out / "prep.log")
    expert = train(out, "syncnet", ["experiment=syncnet", f"data.shards={prep}",
                                    f"trainer.max_steps={args.expert_steps}"], timings)
    judge = train(out, "judge", ["experiment=sync_judge", f"data.shards={prep}",
                                 f"trainer.max_steps={args.judge_steps}"], timings)

    from evaluation.metrics.sync_margin import SYNC_BOUNDS, check_judge_independent, meets_bounds, split_clips, sync_margin
    from lipsync_train.inference.pipeline import LipSyncPipeline
    from lipsync_train.networks.sync_scorer import load_sync_scorer

    clips = split_clips(str(prep), "test", args.clips, args.frames)
    scorer = load_sync_scorer(judge)
    rows = {"real": [], "null": []}
    for seed in args.seeds:
        for recipe in ("real", "null") if args.null else ("real",):
            name = f"unet_seed{seed}" + ("_null" if recipe == "null" else "")
            extra = ["data.audio_from=other_clip"] if recipe == "null" else []
            unet = train(out, name, ["experiment=unet_tiny", f"data.shards={prep}", f"model.syncnet_ckpt={expert}",
                                     f"seed={seed}", f"trainer.max_steps={args.unet_steps}", *extra,
                                     *args.unet_overrides], timings)
            check_judge_independent(unet, judge)
            t0 = time.perf_counter()
            res = sync_margin(LipSyncPipeline.from_checkpoint(unet), scorer, clips, num_steps=10, guidance_scale=1.0)
            timings[f"score_{name}"] = time.perf_counter() - t0
            offsets = [g["vs_driving"]["offset"] for g in res["generations"]]
            rows[recipe].append({"seed": seed, **{k: res[k] for k in SUMMARY_KEYS}, "offsets_vs_driving": offsets,
                                 "meets_bounds": meets_bounds(res), "generations": res["generations"]})
            print(f"{recipe:>4} seed {seed:>5}: margin {res['margin']:+.3f}  wins {res['wins']:.2f}  "
                  f"in sync {res['in_sync']:.2f}  vs driving {res['confidence_vs_driving']:.3f}  "
                  f"vs other {res['confidence_vs_other']:.3f}  ground truth {res['ground_truth_confidence']:.3f}  "
                  f"meets bounds {meets_bounds(res)}  offsets {offsets}", flush=True)
    summary = {recipe: {k: {"mean": float(np.mean([r[k] for r in rs])), "min": float(np.min([r[k] for r in rs])),
                            "max": float(np.max([r[k] for r in rs])),
                            "std": float(np.std([r[k] for r in rs], ddof=1)) if len(rs) > 1 else 0.0}
                        for k in ("margin", "wins", "in_sync")} for recipe, rs in rows.items() if rs}
    for recipe, stats in summary.items():
        print(f"{recipe} over {len(rows[recipe])} seeds: " + "  ".join(
            f"{k} mean {v['mean']:+.3f} sd {v['std']:.3f} min {v['min']:+.3f} max {v['max']:+.3f}"
            for k, v in stats.items()) + f"  meeting the bounds {sum(r['meets_bounds'] for r in rows[recipe])}"
            f"/{len(rows[recipe])}")
    (out / "results.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                  "bounds": SYNC_BOUNDS, "seeds": rows, "summary": summary,
                                                  "seconds": timings}, indent=2))
    print(f"results: {out / 'results.json'}")


if __name__ == "__main__":
    main()
