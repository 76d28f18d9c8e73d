"""Synthetic corpora with ground truth: the generator and its name vocabularies."""
