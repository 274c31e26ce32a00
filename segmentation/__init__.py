"""Segmentation task of SiameseIM Suite."""
