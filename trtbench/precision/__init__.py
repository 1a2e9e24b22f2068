"""Precision variants of an ONNX model (conversion and explicit quantization) and accuracy checks."""
