"""Training of the learned MappingNet (dev only: needs the ``train`` extra, torch==2.13.0).

corpus (keypoints.corpus) -> data.py (features + targets as arrays) -> model.py (the torch
network) -> fit.py (seeded training loop) -> export.py (hand-built ONNX graph under the
contract, checked against torch) ; ``python -m keypoints.training`` runs them all.
Nothing here is imported at run time.
"""
