"""Detection task of SiameseIM Suite."""
