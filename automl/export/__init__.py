"""TFLite export: float32, float16, dynamic-range and full-integer files, each re-validated in the
ai-edge-litert interpreter (see docs/export.md).

Keras and TensorFlow are imported only when an export runs.
"""

from __future__ import annotations

from automl.export.exporter import ExportedFile, ExportResult, export
from automl.tflite.convert import FORMATS, ConvertOptions, convert
from automl.tflite.prepare import inference_model
from automl.tflite.validate import Validation, validate

__all__ = ["FORMATS", "ConvertOptions", "ExportResult", "ExportedFile", "Validation", "convert", "export",
           "inference_model", "validate"]
