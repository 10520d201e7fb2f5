"""A study: its loop (:mod:`automl.study.loop`), sessions and workers, and the tuning study (:mod:`automl.study.tune`).

The study's folder under ``mlruns/`` and the stores' locks are the layer below (:mod:`automl.store`).
"""
