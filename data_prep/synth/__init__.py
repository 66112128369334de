"""Synthetic Arabic talking-face videos for the demo and the tests (``lipsync-make-data``).

sentences  diacritised MSA sentences, espeak-ng shadda order, bare forms
voice      espeak-ng speech with pauses, resampled to 44.1 / 48 kHz, phoneme truth
face_rig   the astronaut photo, mediapipe-located lips, speaker looks, head motion
mouth      visemes, coarticulation and loudness -> per-frame mouth pose
render     mouth warp + oral cavity, ffmpeg mp4 encoding
generate   the dataset: videos, manifest.jsonl, truth/*.json
broken     bad inputs, one per drop reason
cli        the Hydra entry point
"""
