"""The active speaker: which face to follow in frames where several are visible.

Web video often has a second person in frame (an interviewer, a passer-by).
Dropping those frames as ``several_faces`` throws away good speech, so each
run of several-face frames is resolved to one face by the first rule that
decides (the rule is recorded per frame and, per clip, in ``meta.quality``):

1. ``box``: the manifest gives the speaker's face box (MultiTalk ships one per
   clip, as fractions of the frame): the face whose nose lies inside it,
   nearest its centre; with a box, a lone face outside it (by more than a fifth of the box
   size) is someone else, and its frames count as ``no_face``;
2. ``audio_motion``: the face whose mouth opening (inner-lip gap over the eye
   distance) follows the audio energy best (Pearson correlation over the
   run, at least :data:`MIN_CORRELATION` and :data:`MIN_MARGIN` above the next face);
3. ``largest``: the biggest face, if it is at least :data:`LARGEST_MARGIN`
   times the next one; otherwise the run is ambiguous (two alike faces both
   moving with the sound, say) and stays dropped as ``several_faces``.

Faces are linked across the frames of a run by their nose position (nearest
neighbour to the previous frame), so "a face" is the same person throughout.
"""

from __future__ import annotations

import numpy as np

from data_prep import schema
from data_prep.faces import FaceTrack, head_pose, true_runs

NOSE, UPPER_LIP, LOWER_LIP, EYES = 1, 13, 14, (33, 263)
MIN_CORRELATION = 0.3
MIN_MARGIN = 0.1
MIN_FRAMES_FOR_AUDIO = 8
LARGEST_MARGIN = 1.2


def link_faces(candidates: list[np.ndarray]) -> np.ndarray:
    """Per-frame candidate arrays (K_t, 478, 3) -> (T, N, 478, 3) faces linked by nose position (NaN = missing).

    The faces of the first frame start the identities; each later candidate
    continues the identity whose last nose position is nearest.
    """
    n_ids = max(len(c) for c in candidates)
    linked = np.full((len(candidates), n_ids, *candidates[0].shape[1:]), np.nan, np.float32)
    last = np.full((n_ids, 2), np.nan)
    for t, faces in enumerate(candidates):
        free = list(range(n_ids))
        for face in sorted(faces, key=lambda f: -_size(f)):  # big faces choose first
            known = [i for i in free if np.isfinite(last[i]).all()]
            pick = min(known, key=lambda i: np.linalg.norm(last[i] - face[NOSE, :2])) if known else free[0]
            linked[t, pick] = face
            last[pick] = face[NOSE, :2]
            free.remove(pick)
    return linked


def _size(face: np.ndarray) -> float:
    pts = face[:, :2]
    return float((np.nanmax(pts, 0) - np.nanmin(pts, 0)).max())


def mouth_opening(face: np.ndarray) -> float:
    """Inner-lip gap over the eye-corner distance of one (478, 2+) face (NaN if missing)."""
    eye = np.linalg.norm(face[EYES[1], :2] - face[EYES[0], :2])
    return float(np.linalg.norm(face[LOWER_LIP, :2] - face[UPPER_LIP, :2]) / max(eye, 1e-6))


def frame_energy(audio: np.ndarray, frames: range) -> np.ndarray:
    """RMS of each video frame's 640 audio samples -> (len(frames),)."""
    spf = schema.SAMPLES_PER_FRAME
    out = np.zeros(len(frames))
    for i, t in enumerate(frames):
        chunk = audio[t * spf: (t + 1) * spf].astype(np.float64)
        out[i] = np.sqrt(np.mean(chunk ** 2)) if len(chunk) else 0.0
    return out


def choose_face(linked: np.ndarray, energy: np.ndarray, box: dict | None,
                frame_size: tuple[int, int]) -> tuple[int, str]:
    """(identity, rule) for one run of (T, N, 478, 3) linked faces; (-1, "ambiguous") when no rule decides."""
    nose = np.nanmedian(linked[:, :, NOSE, :2], axis=0)  # (N, 2)
    if box is not None:
        width, height = frame_size
        inside = [i for i in range(len(nose)) if _inside(nose[i], box, frame_size)]
        if inside:
            centre = np.array([(box["left"] + box["right"]) / 2 * width, (box["top"] + box["bottom"]) / 2 * height])
            return min(inside, key=lambda i: np.linalg.norm(nose[i] - centre)), "box"
    if len(linked) >= MIN_FRAMES_FOR_AUDIO and energy.std() > 0:
        scores = []
        for i in range(linked.shape[1]):
            opening = np.array([mouth_opening(f) if np.isfinite(f).all() else np.nan for f in linked[:, i]])
            ok = np.isfinite(opening)
            valid = ok.sum() >= MIN_FRAMES_FOR_AUDIO and opening[ok].std() > 0
            scores.append(float(np.corrcoef(opening[ok], energy[ok])[0, 1]) if valid else -1.0)
        order = np.argsort(scores)[::-1]
        best = scores[order[0]]
        runner_up = scores[order[1]] if len(order) > 1 else -1.0
        if best >= MIN_CORRELATION and best - runner_up >= MIN_MARGIN:
            return int(order[0]), "audio_motion"
    sizes = np.array([np.median([_size(f) for f in linked[:, i] if np.isfinite(f).all()] or [0.0])
                      for i in range(linked.shape[1])])
    order = np.argsort(sizes)[::-1]
    if len(order) == 1 or sizes[order[0]] >= LARGEST_MARGIN * sizes[order[1]]:
        return int(order[0]), "largest"
    return -1, "ambiguous"


def _inside(point: np.ndarray, box: dict, frame_size: tuple[int, int], grow: float = 0.0) -> bool:
    """Whether pixel ``point`` lies in ``box`` (fractions of the frame) widened by ``grow`` of its size per side."""
    width, height = frame_size
    dx, dy = grow * (box["right"] - box["left"]), grow * (box["bottom"] - box["top"])
    return ((box["left"] - dx) * width <= point[0] <= (box["right"] + dx) * width
            and (box["top"] - dy) * height <= point[1] <= (box["bottom"] + dy) * height)


def _drop_faces_outside(track: FaceTrack, box: dict, frame_size: tuple[int, int], rules: np.ndarray) -> None:
    """With a box, a lone face far from it is someone else: its frames become face-less (``no_face``)."""
    for t in np.flatnonzero(track.n_faces == 1):
        nose = track.landmarks[t, NOSE]
        if np.isfinite(nose).all() and not _inside(nose, box, frame_size, grow=0.2):
            track.landmarks[t] = np.nan
            track.n_faces[t] = 0
            rules[t] = ""


def resolve_speaker(track: FaceTrack, audio: np.ndarray, frame_size: tuple[int, int],
                    box: dict | None = None) -> np.ndarray:
    """Follow one face through every several-face run of ``track`` (in place); -> (T,) rule per frame.

    The rule is ``"single"`` where one face was visible, ``""`` where there was
    none, else ``box`` / ``audio_motion`` / ``largest``. Resolved frames get
    the chosen face's landmarks and pose and count as one-face frames.
    """
    rules = np.where(track.n_faces == 1, "single", "").astype(object)
    if box is not None:
        _drop_faces_outside(track, box, frame_size, rules)
    several = np.array([t in track.candidates for t in range(len(track.n_faces))]) & (track.n_faces >= 2)
    for start, stop in true_runs(several):
        linked = link_faces([track.candidates[t] for t in range(start, stop)])  # (n, N, 478, 3)
        choice, rule = choose_face(linked, frame_energy(audio, range(start, stop)), box, frame_size)
        if choice < 0:
            continue
        for i, t in enumerate(range(start, stop)):
            face = linked[i, choice]
            if not np.isfinite(face).all():
                continue  # the chosen person was not meshed in this frame: it stays several_faces
            track.landmarks[t] = face[:, :2]
            track.face_size[t] = _size(face)
            track.n_faces[t] = 1
            if track.pose is not None:
                track.pose[t] = head_pose(face)
            rules[t] = rule
    return rules
