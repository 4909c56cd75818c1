"""Supervised training, evaluation and prediction on top of Lightning."""
