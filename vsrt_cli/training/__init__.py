"""Training the bundled VSR-Transformer on CPU: data, held-out validation set, training loop.

* :mod:`.data` turns photos (rendered along smooth random camera paths) and real videos into
  (LR, GT) clips with the standard BI degradation.
* :mod:`.validation` writes the held-out clips as a Vid4-style PNG folder that ``vsrt eval``
  reads, and scores a model on it.
* :mod:`.trainer` runs the loop: Charbonnier loss, Adam with cosine decay, EMA weights,
  resumable checkpoints, logs and periodic validation.

Imports stay lazy so that ``vsrt --help`` does not pay for loading the training stack.
"""
