"""Serve the pipeline's models over HTTP with a live comparison page (`python -m textslim.serve`).

Kept import-free: the launcher checks its arguments before paying for torch and onnxruntime.
"""
