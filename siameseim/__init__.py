"""SiameseIM Suite core: the shared ViT backbone, checkpoint import and layer-decay optimizer."""

__version__ = '0.1.0'
