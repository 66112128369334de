"""The Gradio page of ``lipsync-app``: inputs on the left, the playing result and its scores on the right.

One event does the work, ``generate`` (API name ``/generate``, so
``gradio_client`` can call it too). It has ``concurrency_limit=1`` and the
queue is on: two users at once wait in line rather than run two generations
on one GPU, and the page shows each one its place in the queue and then a
progress bar fed from the pipeline's frame count. A
:class:`~evaluation.app.inputs.UserError` becomes a ``gr.Error`` (a message in
the page); the app keeps serving after it.
"""

from __future__ import annotations

import logging
from typing import Callable

import gradio as gr

from data_prep.tts import LANGS
from evaluation.app.generate import AppGenerator, Settings
from evaluation.app.inputs import VOICES, UserError
from evaluation.app.scores import scores_markdown

log = logging.getLogger(__name__)

INTRO = """# Arabic / English lip-sync
A face (photo or video) and speech (an audio file, or text spoken by a TTS voice) → the face speaking it.
A still photo gets small natural head motion (no blinks) and is fitted to the model's resolution."""


def build_app(generator: AppGenerator, checkpoints: Callable[[], list[str]], defaults: Settings,
              default_ckpt: str | None = None) -> gr.Blocks:
    """The page; ``checkpoints`` lists the UNet checkpoints to offer (called again by the refresh button)."""
    choices = checkpoints()
    with gr.Blocks(title="lipsync-app", analytics_enabled=False) as app:
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column():
                with gr.Row():
                    face_image = gr.Image(label="Face photo", type="filepath", format="png", sources=["upload"],
                                          height=260, elem_id="face-image")
                    face_video = gr.Video(label="…or a face video (used instead)", sources=["upload"], height=260,
                                          elem_id="face-video")
                text = gr.Textbox(label="Text to speak", lines=2, elem_id="text",
                                  placeholder="مرحبا بكم في هذه الدورة  /  Welcome to the course")
                with gr.Row():
                    lang = gr.Radio(list(LANGS), value="ar", label="Language", elem_id="lang")
                    voice = gr.Dropdown(list(VOICES), value="auto", label="Voice (TTS backend)", elem_id="voice")
                audio = gr.Audio(label="…or speech audio (used instead of the text)", type="filepath",
                                 sources=["upload"], elem_id="audio")
                with gr.Row():
                    ckpt = gr.Dropdown(choices, value=default_ckpt or (choices[0] if choices else None),
                                       label="Checkpoint", allow_custom_value=True, scale=4, elem_id="ckpt")
                    refresh = gr.Button("↻", scale=0, min_width=40)
                with gr.Row():
                    steps = gr.Slider(1, 100, value=defaults.num_steps, step=1, label="Sampling steps",
                                      elem_id="steps")
                    guidance = gr.Slider(1.0, 5.0, value=defaults.guidance_scale, step=0.1,
                                         label="Guidance (1 = none)", elem_id="guidance")
                    seed = gr.Number(value=defaults.seed, precision=0, label="Seed", min_width=80, elem_id="seed")
                run = gr.Button("Generate", variant="primary", elem_id="generate")
            with gr.Column():
                video = gr.Video(label="Result", autoplay=True, buttons=["download"], interactive=False,
                                 elem_id="result")
                scores = gr.Markdown(elem_id="scores")
                with gr.Accordion("Details", open=False):
                    info = gr.JSON(label="Details", elem_id="info")

        def generate(face_image, face_video, audio, text, lang, voice, ckpt, steps, guidance, seed,
                     progress=gr.Progress()):
            """Lip-sync the face to the speech; returns (video, LSE table, details)."""
            try:
                result = generator(face_video or face_image, audio, text, lang, voice, ckpt,
                                   Settings(int(steps), float(guidance), int(seed or 0)),
                                   report=lambda f, t: progress(f, desc=t))
            except UserError as err:
                log.info("request refused: %s", err)
                raise gr.Error(str(err)) from err
            return str(result.video), scores_markdown(result.scores), {**result.info, "scores": result.scores}

        run.click(generate, [face_image, face_video, audio, text, lang, voice, ckpt, steps, guidance, seed],
                  [video, scores, info], api_name="generate", concurrency_limit=1)
        refresh.click(lambda: gr.Dropdown(choices=checkpoints()), None, ckpt, api_visibility="private")
    app.queue(default_concurrency_limit=1)
    return app
