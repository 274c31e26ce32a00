"""SiameseIM and MAE pretraining models."""
