"""Arabic phonetics, offline: normalise -> diacritise -> G2P (espeak-ng) -> visemes -> alignment.

Modules: ``normalize`` (transcript clean-up, shadda ordering), ``diacritize``
(text2tashkeel / mishkal, diacritic error rate), ``connected`` (the text
respelt as spoken in running speech), ``phoneset`` (PHONE_SET and
the espeak-ng -> IPA map), ``g2p`` (timed phones from espeak-ng), ``visemes``
(phone -> viseme class), ``dtw_aligner`` (template + DTW), ``mfa`` (Montreal
Forced Aligner when installed). The pipeline stage is ``data_prep.phonemes``.
"""
