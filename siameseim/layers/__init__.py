"""Building blocks of the shared ViT: attention, relative and absolute positions, windows."""
from .attention import Attention
from .block import Block, LayerScale
from .pos_embed import resize_pos_embed, sincos_2d
from .rel_pos import (beit_relative_position_index, decomposed_rel_pos_bias, num_relative_distances,
                      resize_rel_pos)
from .window import window_partition, window_unpartition

__all__ = [
    'Attention', 'Block', 'LayerScale', 'resize_pos_embed', 'sincos_2d', 'beit_relative_position_index',
    'decomposed_rel_pos_bias', 'num_relative_distances', 'resize_rel_pos', 'window_partition', 'window_unpartition'
]
