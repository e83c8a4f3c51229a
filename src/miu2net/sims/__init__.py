"""Simulated truth: convergence fields, halo populations, particle projection, datasets."""
