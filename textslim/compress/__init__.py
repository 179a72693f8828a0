"""Compression of a trained student: vocabulary trimming, structured and unstructured pruning, then recovery."""
