"""Robustness task of SiameseIM Suite."""
