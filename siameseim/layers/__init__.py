"""Building blocks of the shared ViT: attention, relative and absolute positions (and their resizing), windows."""
from .attention import Attention
from .block import Block, LayerScale
from .pos_embed import resize_patch_positions, resize_pos_embed_and_prefix, sincos_2d
from .rel_pos import (beit_relative_position_index, decomposed_rel_pos_bias, num_relative_distances,
                      rel_pos_bias_layout, resize_rel_pos, resize_rel_pos_bias_table)
from .window import window_partition, window_unpartition

__all__ = [
    'Attention', 'Block', 'LayerScale', 'resize_patch_positions', 'resize_pos_embed_and_prefix', 'sincos_2d',
    'beit_relative_position_index', 'decomposed_rel_pos_bias', 'num_relative_distances', 'rel_pos_bias_layout',
    'resize_rel_pos', 'resize_rel_pos_bias_table', 'window_partition', 'window_unpartition'
]
