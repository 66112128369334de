"""The synthetic speakers' faces: one photo, mediapipe-located lips, many looks.

Every generated speaker is the astronaut photo that ships with scikit-image
(``skimage.data.astronaut``) seen through a fixed *look*: a crop/scale/rotation
/flip/stretch into the output frame, a colour grade and a replaced
background. The lips are found once on the photo with mediapipe face mesh (at
run time, offline, rather than hard-coded pixel positions) and carried
through each look's affine transform analytically, so rendering never has to
run a detector.

Head motion (slow drift, rotation and zoom) is a per-frame affine applied to
the whole rendered frame, so face alignment downstream is not trivial.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np
from skimage import data as skdata

log = logging.getLogger(__name__)

# mediapipe face-mesh indices (468-point topology), left corner to right corner.
INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
INNER_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
OUTER_CORNERS = (61, 291)
EYE_CORNERS = (33, 263)
NOSE_TIP, CHIN = 1, 152
FRAME_SIZES = ((480, 480), (512, 512), (640, 480), (576, 480))  # (width, height)


@dataclass(frozen=True)
class LipRig:
    """Landmarks (pixels, x/y) of the mouth and its surroundings in one image."""

    inner_upper: np.ndarray  # (11, 2) left corner -> right corner
    inner_lower: np.ndarray  # (11, 2)
    outer_corners: np.ndarray  # (2, 2)
    eyes: np.ndarray  # (2, 2)
    nose: np.ndarray  # (2,)
    chin: np.ndarray  # (2,)

    def transformed(self, affine: np.ndarray) -> "LipRig":
        """The same rig after a 2x3 affine; a mirror swaps left and right so corners stay ordered."""
        def apply(points):
            pts = np.asarray(points, np.float64).reshape(-1, 2)
            return pts @ affine[:, :2].T + affine[:, 2]

        upper, lower = apply(self.inner_upper), apply(self.inner_lower)
        corners, eyes = apply(self.outer_corners), apply(self.eyes)
        if upper[0, 0] > upper[-1, 0]:  # mirrored: keep left-to-right order
            upper, lower, corners, eyes = upper[::-1], lower[::-1], corners[::-1], eyes[::-1]
        return LipRig(upper, lower, corners, eyes, apply(self.nose)[0], apply(self.chin)[0])

    @property
    def mouth_center(self) -> np.ndarray:
        return (self.inner_upper[0] + self.inner_upper[-1]) / 2


def locate_lips(image: np.ndarray) -> LipRig:
    """Run mediapipe face mesh once on an RGB image (H, W, 3) and return its lip rig."""
    import mediapipe as mp  # heavy import: only when a rig is actually built

    h, w = image.shape[:2]
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1,
                                         refine_landmarks=False, min_detection_confidence=0.5) as mesh:
        result = mesh.process(np.ascontiguousarray(image))
    if not result.multi_face_landmarks:
        raise RuntimeError(f"mediapipe face mesh found no face in the {w}x{h} rig photo")
    pts = np.array([[p.x * w, p.y * h] for p in result.multi_face_landmarks[0].landmark])  # (468, 2)
    log.info("lip rig located by face mesh: inner lip corners %s and %s px", pts[78].round(1), pts[308].round(1))
    return LipRig(pts[list(INNER_UPPER)], pts[list(INNER_LOWER)], pts[list(OUTER_CORNERS)],
                  pts[list(EYE_CORNERS)], pts[NOSE_TIP], pts[CHIN])


def face_photo() -> np.ndarray:
    """(512, 512, 3) uint8 RGB astronaut photo shipped with scikit-image."""
    return skdata.astronaut()


@dataclass(frozen=True)
class SpeakerLook:
    """A fixed appearance: geometry into the frame, colour grade, background."""

    name: str
    frame_size: tuple[int, int]  # (width, height)
    face_scale: float  # eye-to-chin distance as a fraction of the frame height
    rotation_deg: float
    stretch: float  # horizontal / vertical aspect change of the face
    mirror: bool
    offset: tuple[float, float]  # face centre offset, fraction of the frame
    hue_shift: float  # OpenCV hue units (180 = full circle)
    saturation: float
    gain: float
    gamma: float
    tint: tuple[float, float, float]  # per-channel RGB gains
    background: str  # "photo", "flat", "gradient", "brick", "grass"
    background_rgb: tuple[int, int, int]

    @staticmethod
    def random(name: str, rng: np.random.Generator) -> "SpeakerLook":
        size = FRAME_SIZES[int(rng.integers(len(FRAME_SIZES)))]
        return SpeakerLook(
            name=name, frame_size=size, face_scale=float(rng.uniform(0.36, 0.48)),
            rotation_deg=float(rng.uniform(-6, 6)), stretch=float(rng.uniform(0.92, 1.08)),
            mirror=bool(rng.random() < 0.5),
            offset=(float(rng.uniform(-0.06, 0.06)), float(rng.uniform(-0.05, 0.05))),
            hue_shift=float(rng.uniform(-6, 6)), saturation=float(rng.uniform(0.7, 1.25)),
            gain=float(rng.uniform(0.8, 1.15)), gamma=float(rng.uniform(0.85, 1.2)),
            tint=tuple(float(g) for g in rng.uniform(0.92, 1.08, 3)),
            background=str(rng.choice(["photo", "flat", "gradient", "brick", "grass"])),
            background_rgb=tuple(int(c) for c in rng.integers(30, 220, 3)),
        )


def look_affine(look: SpeakerLook, rig: LipRig) -> np.ndarray:
    """2x3 affine from photo pixels to frame pixels for ``look`` (face centred, scaled, rotated)."""
    w, h = look.frame_size
    eyes_mid = rig.eyes.mean(axis=0)
    centre = (eyes_mid + rig.chin) / 2
    scale = look.face_scale * h / float(np.linalg.norm(rig.chin - eyes_mid))
    a = math.radians(look.rotation_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    lin = rot @ np.diag([scale * look.stretch * (-1 if look.mirror else 1), scale])
    target = np.array([w * (0.5 + look.offset[0]), h * (0.5 + look.offset[1])])
    return np.hstack([lin, (target - lin @ centre)[:, None]])


def _grade(image: np.ndarray, look: SpeakerLook) -> np.ndarray:
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + look.hue_shift) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * look.saturation, 0, 255)
    rgb = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32) / 255
    rgb = np.clip(rgb ** look.gamma * look.gain * np.float32(look.tint), 0, 1)
    return (rgb * 255).astype(np.uint8)


def _background(look: SpeakerLook, rng: np.random.Generator) -> np.ndarray:
    w, h = look.frame_size
    colour = np.float32(look.background_rgb)
    if look.background in ("brick", "grass"):
        tex = getattr(skdata, look.background)()
        tex = cv2.resize(tex, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)[..., None] / 255
        return (tex * colour * 1.3).clip(0, 255).astype(np.uint8)
    if look.background == "gradient":
        ramp = np.linspace(0.55, 1.2, h, dtype=np.float32)[:, None, None]
        return np.broadcast_to(ramp * colour, (h, w, 3)).clip(0, 255).astype(np.uint8)
    return np.broadcast_to(colour, (h, w, 3)).astype(np.uint8)


def render_speaker_base(photo: np.ndarray, rig: LipRig, look: SpeakerLook,
                        rng: np.random.Generator) -> tuple[np.ndarray, LipRig]:
    """The speaker's still frame (H, W, 3) uint8 RGB with its lip rig in frame pixels."""
    affine = look_affine(look, rig)
    w, h = look.frame_size
    frame = cv2.warpAffine(_grade(photo, look), affine, (w, h), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT)
    frame_rig = rig.transformed(affine)
    if look.background != "photo":
        # Keep a soft ellipse around head and shoulders, replace the rest.
        mask = np.zeros((h, w), np.float32)
        face_h = float(np.linalg.norm(frame_rig.chin - frame_rig.eyes.mean(axis=0)))
        cx, cy = (frame_rig.eyes.mean(axis=0) + frame_rig.chin) / 2
        cv2.ellipse(mask, (int(cx), int(cy - 0.15 * face_h)), (int(0.95 * face_h), int(1.35 * face_h)),
                    look.rotation_deg, 0, 360, 1.0, -1)
        cv2.ellipse(mask, (int(cx), int(cy + 2.4 * face_h)), (int(2.2 * face_h), int(1.8 * face_h)),
                    0, 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), 0.08 * face_h)[..., None]
        frame = (frame * mask + _background(look, rng) * (1 - mask)).astype(np.uint8)
    return frame, frame_rig
