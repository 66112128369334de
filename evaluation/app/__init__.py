"""``lipsync-app``: a Gradio web page to try a lip-sync model as people do (floor 4, beside the demo).

A face image or video, audio or text (Arabic or English, a TTS voice), a UNet
checkpoint (our own or a converted LatentSync one), steps / guidance / seed ->
the lip-synced video playing in the page, with its LSE-C / LSE-D beside it.

- :mod:`.inputs`: the user's inputs read and checked; a mistake is a :class:`~.inputs.UserError`
- :mod:`.checkpoints`: UNet checkpoints found under a runs folder; the loaded pipeline kept
- :mod:`.scores`: LSE-C / LSE-D of a result (this project's expert, published syncnet_v2)
- :mod:`.generate`: one request from inputs to video and scores
- :mod:`.ui`: the Gradio page (queue of one generation at a time)
- :mod:`.cli`: the console script
"""
