"""Training the bundled VSR-Transformer on CPU: data, held-out validation set, training loop.

* :mod:`.config` reads a run's JSON config (model, data, train, validation sections).
* :mod:`.data` turns photos (rendered along smooth random camera paths, :mod:`.camera`) and
  real videos into (LR, GT) clips with the standard BI degradation (:mod:`.degradation`),
  caching what it decodes (:mod:`.cache`).
* :mod:`.validation` writes the held-out clips as a Vid4-style PNG folder that ``vsrt eval``
  reads, and scores a model on it.
* :mod:`.trainer` runs the loop: Charbonnier loss, Adam with cosine decay, EMA weights,
  resumable checkpoints, logs and periodic validation.

Imports stay lazy so that ``vsrt --help`` does not pay for loading the training stack.
"""
