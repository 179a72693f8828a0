"""Compression after distillation, one module per step: vocabulary trimming, structured and unstructured pruning
with recovery (student), ONNX export, INT8 quantization, and the three chained for studies (deploy)."""
