"""textslim: compress transformer text classifiers for CPU deployment."""
