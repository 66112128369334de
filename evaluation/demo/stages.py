"""The eight demo stages, each a thin call into the project's own workflows.

    data      lipsync-make-data: generated Arabic talking-face videos + manifest
    shards    lipsync-prep: the dataset workflow, speaker-disjoint splits
    syncnet   lipsync-train experiment=syncnet: the SyncNet expert (for the UNet's SyncNet loss, off by default)
    judge     lipsync-train experiment=sync_judge: an independent SyncNet (another architecture and
              seed, never a loss) that scores the generated videos
    unet      lipsync-train experiment=unet_tiny: the diffusion UNet (LatentSync's UNet3D, tiny)
    generate  lipsync_video: a held-out face lip-synced to held-out speech and to espeak-ng text
    score     LSE-C / LSE-D with the judge, against each video's audio and the other audio (+ syncnet_v2
              when its weights are given), FID with its controls on the test clips, per-viseme
              confidence, the sync margin (each generation against its driving and another audio)
    report    training curves, per-viseme plot, side-by-side video, summary.md

The dataset and training stages run their console commands in child processes
(each writes its own resolved config and logs next to its outputs); the later
stages run here. The held-out face and speech come from the test split's
speaker, whom neither model saw: the face of one of their videos (A) is
driven by the audio of another (B), so B's video is the ground truth.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from data_prep.shard_index import read_index
from evaluation.demo.runner import run_command

log = logging.getLogger(__name__)
JUDGE_SEED_OFFSET = 4321


class DemoStages:
    """The stage functions over one run folder; ``cfg`` is the resolved conf/demo.yaml as a dict."""

    def __init__(self, cfg: dict[str, Any], out_dir: Path):
        self.cfg, self.out = cfg, out_dir
        self.data_dir, self.prep_dir = out_dir / "data", out_dir / "prep"
        self.syncnet_dir, self.judge_dir, self.unet_dir = out_dir / "syncnet", out_dir / "judge", out_dir / "unet"
        self.videos_dir, self.score_dir, self.plots_dir = out_dir / "videos", out_dir / "score", out_dir / "plots"
        self.logs_dir = out_dir / "logs"

    def functions(self) -> dict[str, Any]:
        return {"data": self.data, "shards": self.shards, "syncnet": self.syncnet, "judge": self.judge,
                "unet": self.unet, "generate": self.generate, "score": self.score, "report": self.report}

    # -- dataset workflow -------------------------------------------------------------------------

    def data(self, fresh: bool) -> dict[str, Any]:
        c = self.cfg["data"]
        shutil.rmtree(self.data_dir, ignore_errors=True)  # the generator writes a whole dataset at once
        run_command(["data_prep.synth.cli", f"out_dir={self.data_dir}", f"seed={self.cfg['seed']}",
                     f"n_speakers={c['n_speakers']}", f"videos_per_speaker={c['videos_per_speaker']}",
                     f"sentences_per_video={c['sentences_per_video']}", f"n_broken={c['n_broken']}",
                     f"workers={c['workers']}"], self.logs_dir / "data.log")
        manifest = self.data_dir / "manifest.jsonl"
        return {"manifest": str(manifest), "sources": sum(1 for _ in open(manifest, encoding="utf-8"))}

    def shards(self, fresh: bool) -> dict[str, Any]:
        c = self.cfg["shards"]
        if fresh:
            shutil.rmtree(self.prep_dir, ignore_errors=True)
        run_command(["data_prep.cli", f"manifest={self.data_dir / 'manifest.jsonl'}", f"out_dir={self.prep_dir}",
                     f"workers={c['workers']}", f"shards.max_samples={c['max_samples']}",
                     f"sync.ckpt={c['sync_ckpt'] or 'null'}", *c["overrides"]],
                    self.logs_dir / "shards.log")
        index = read_index(self.prep_dir)
        return {"index": str(self.prep_dir / "index.json"),
                "clips": {split: info["samples"] for split, info in index["splits"].items()},
                "dropped": index["sources"]["dropped"]}

    # -- training workflow ------------------------------------------------------------------------

    def _train(self, out_dir: Path, experiment: str, c: dict[str, Any], extra: list[str], log_name: str,
               fresh: bool, seed: int | None = None) -> dict:
        last = out_dir / "checkpoints" / "last.ckpt"
        if fresh:
            shutil.rmtree(out_dir, ignore_errors=True)
        args = ["lipsync_train.train", f"experiment={experiment}", f"data.shards={self.prep_dir}",
                f"paths.output_dir={out_dir}", f"trainer.max_steps={c['max_steps']}",
                f"seed={self.cfg['seed'] if seed is None else seed}",
                f"logger={self.cfg['logger']}", *extra, *c["overrides"]]
        if last.is_file():
            args.append("ckpt_path=last")  # a killed run resumes with optimizer and step intact
            log.info("resuming %s from %s", experiment, last)
        run_command(args, self.logs_dir / log_name)
        summary = json.loads((out_dir / "metrics.json").read_text())
        return {"checkpoint": str(last), "metrics": summary["metrics"], "global_step": summary["global_step"]}

    def syncnet(self, fresh: bool) -> dict[str, Any]:
        return self._train(self.syncnet_dir, "syncnet", self.cfg["syncnet"], [], "syncnet.log", fresh)

    def judge(self, fresh: bool) -> dict[str, Any]:
        # its own seed as well as its own architecture: nothing shared with the expert but the training split
        return self._train(self.judge_dir, "sync_judge", self.cfg["judge"], [], "judge.log", fresh,
                           seed=self.cfg["seed"] + JUDGE_SEED_OFFSET)

    def unet(self, fresh: bool) -> dict[str, Any]:
        expert = self.syncnet_dir / "checkpoints" / "last.ckpt"
        return self._train(self.unet_dir, "unet_tiny", self.cfg["unet"], [f"model.syncnet_ckpt={expert}"], "unet.log",
                           fresh)

    # -- generation -------------------------------------------------------------------------------

    def held_out_sources(self) -> tuple[dict, dict]:
        """(face source A, speech source B): two kept videos of the first test-split speaker."""
        index = read_index(self.prep_dir)
        test_speakers = index["splits"].get("test", {}).get("speakers", [])
        dropped = {json.loads(line)["id"] for line in open(self.prep_dir / "dropped.jsonl", encoding="utf-8")
                   if line.strip()}
        rows = [json.loads(line) for line in open(self.data_dir / "manifest.jsonl", encoding="utf-8") if line.strip()]
        for speaker in test_speakers:
            kept = sorted((r for r in rows if r.get("speaker") == speaker and r["id"] not in dropped),
                          key=lambda r: r["id"])
            if len(kept) >= 2:
                return kept[0], kept[1]
        raise ValueError(f"{self.prep_dir / 'index.json'}: no test-split speaker has two kept videos "
                         f"(test speakers {test_speakers}); raise data.videos_per_speaker")

    def source_video(self, url: str) -> Path:
        """A manifest URL -> the local file the shards stage downloaded it to (yt-dlp cache; nothing is fetched)."""
        from omegaconf import OmegaConf

        from data_prep.workflow.download import download

        cache_dir = OmegaConf.load(self.prep_dir / "config.yaml").download.cache_dir
        return download(url, cache_dir)

    def generate(self, fresh: bool) -> dict[str, Any]:
        from data_prep.media import load_audio, read_frames, speak_arabic, write_video
        from lipsync_train.inference.pipeline import LipSyncPipeline
        from data_prep.face_align import track_affines
        from lipsync_train.inference.video import lipsync_video, source_indices

        c = self.cfg["generate"]
        face_src, speech_src = self.held_out_sources()
        face_frames = read_frames(self.source_video(face_src["url"]))
        speech_video = self.source_video(speech_src["url"])
        speech_frames, speech_audio = read_frames(speech_video), load_audio(speech_video)
        text_audio = speak_arabic(c["text"], voice=c["voice"])
        pipe = LipSyncPipeline.from_checkpoint(self.unet_dir / "checkpoints" / "last.ckpt")
        affines = track_affines(face_frames, pipe.image_size)  # once for both generated videos
        gen, ref, ctl = self.videos_dir / "generated", self.videos_dir / "reference", self.videos_dir / "controls"
        kw = dict(affines=affines, num_steps=c["num_steps"], guidance_scale=c["guidance_scale"],
                  seed=self.cfg["seed"])
        speech = lipsync_video(pipe, face_frames, speech_audio, gen / "speech.mp4", **kw)
        text = lipsync_video(pipe, face_frames, text_audio, gen / "text.mp4", **kw)

        n = speech.n_frames
        h, w = speech_frames.shape[1:3]
        write_video(ref / "speech.mp4", speech_frames[:n], w, h, speech_audio)  # ground truth: B's own face
        h, w = face_frames.shape[1:3]
        write_video(ctl / "source_unsynced.mp4", face_frames[source_indices(len(face_frames), n)], w, h, speech_audio)
        np.save(self.videos_dir / "text_audio.npy", text_audio)  # the exact speech (the mp4 holds it as AAC)
        return {"face_source": face_src["id"], "speech_source": speech_src["id"], "speaker": face_src["speaker"],
                "speech_text": speech_src.get("text", ""), "text": c["text"],
                "text_audio": str(self.videos_dir / "text_audio.npy"),
                "videos": {"generated_speech": str(gen / "speech.mp4"), "generated_text": str(gen / "text.mp4"),
                           "ground_truth": str(ref / "speech.mp4"),
                           "source_unsynced": str(ctl / "source_unsynced.mp4")},
                "frames_without_face": {"speech": speech.frames_without_face, "text": text.frames_without_face},
                "generated_fps": round((speech.n_frames + text.n_frames) / (speech.seconds + text.seconds), 2)}

    # -- evaluation -------------------------------------------------------------------------------

    def score(self, fresh: bool) -> dict[str, Any]:
        from evaluation.demo.scoring import score_demo

        generated = json.loads((self.out / "stages" / "generate.json").read_text())["outputs"]
        ckpts = {name: d / "checkpoints" / "last.ckpt" for name, d in
                 (("expert", self.syncnet_dir), ("judge", self.judge_dir), ("unet", self.unet_dir))}
        results = score_demo(self.cfg, generated, ckpts, self.prep_dir, self.score_dir)
        from evaluation.report import write_json

        write_json(self.out / "results.json", results)
        return {"results": str(self.out / "results.json"), "lse_c": results["lse_c"], "lse_d": results["lse_d"],
                "fid": results["fid"]}

    def report(self, fresh: bool) -> dict[str, Any]:
        from evaluation.demo import outputs

        results = json.loads((self.out / "results.json").read_text())
        generated = json.loads((self.out / "stages" / "generate.json").read_text())["outputs"]
        self.plots_dir.mkdir(parents=True, exist_ok=True)
        curves = outputs.plot_training_curves({"SyncNet expert": self.syncnet_dir / "csv" / "metrics.csv",
                                               "sync judge": self.judge_dir / "csv" / "metrics.csv",
                                               "diffusion UNet": self.unet_dir / "csv" / "metrics.csv"},
                                              self.plots_dir / "training_curves.png")
        visemes = outputs.plot_viseme_confidence(results.get("per_viseme_lse_c", {}),
                                                 self.plots_dir / "viseme_sync_confidence.png")
        videos = generated["videos"]
        side = outputs.side_by_side([videos["source_unsynced"], videos["generated_speech"], videos["ground_truth"]],
                                    ["source", "generated", "ground truth"], self.videos_dir / "side_by_side.mp4")
        summary = outputs.write_summary(results, generated, self.out / "summary.md")
        return {"plots": [str(curves), str(visemes)], "side_by_side": str(side), "summary": str(summary)}

