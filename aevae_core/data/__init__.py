"""Datasets: the one registry of names, titles and shapes (registry.py, no torch), the
built-in sets and torchvision's (datasets.py), sprites with known factors, the user's images."""
