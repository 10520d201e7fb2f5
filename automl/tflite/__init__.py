"""A Keras model as a TFLite file, below the trial: convert it (:mod:`~automl.tflite.convert`, the format
registry), rewrite it for inference first (:mod:`~automl.tflite.prepare`), run and re-validate it in the
ai-edge-litert interpreter (:mod:`~automl.tflite.validate`), and time it (:mod:`~automl.tflite.measure`).

A trial measures its model's size and latency here (``study.measure``); the study-level export of
:mod:`automl.export` (the recovery ladder, QAT, sparsity, MLflow registration) builds on it. Nothing is
imported in this file: Keras and TensorFlow load only when a conversion runs.
"""
