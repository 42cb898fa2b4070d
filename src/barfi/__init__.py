"""barfi: the reference, reproducible implementation of BARFI (Gupta et al., NeurIPS 2023)."""

__version__ = "0.1.0"
