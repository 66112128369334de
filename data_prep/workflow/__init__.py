"""The dataset workflow (floor 2): manifest -> download -> normalise -> shots -> faces -> align -> phonemes -> sync -> shards.

Each stage is one module; ``pipeline.py`` runs them per source and writes the shards and ``index.json``.
The pieces these stages share with training and evaluation (shard schema and index, media I/O, face
geometry, audio features, Arabic text) live one floor down, in ``data_prep`` itself.
"""
