"""Pretrain task of SiameseIM Suite."""
