"""Dense embedders and sparse (BM25) encoders behind the protocols in `base`."""
