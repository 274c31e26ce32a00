"""SiameseIM Suite core: the shared ViT backbone, checkpoint import and layer-decay optimizer."""
from . import compat

compat.apply_all()

__version__ = '0.1.0'
