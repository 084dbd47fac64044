"""Training of the viseme model (dev only: needs the ``train`` extra, torch==2.13.0).

The same synthetic espeak-ng corpus as the lips (keypoints.corpus: voices, texts, augmentation)
spoken again with every phoneme kept: data.py (log-mel + per-frame allowed shapes), model.py
(a small causal CNN), fit.py (seeded training), export.py (ONNX under the viseme contract of
keypoints.visemenet); recipe.py runs them all (``python -m keypoints.viseme_training``).
Nothing here is imported at run time.
"""
