"""Convert a ViT checkpoint of any supported format into the suite's own format, validating it on the backbone.

    siameseim-convert sim_base_1600ep_pretrain.pth sim_vit_b.pth --arch vit-b
    siameseim-convert mae_finetuned_vit_base.pth mae_ft_vit_b.pth --keep-head
    siameseim-convert beit_base_patch16_224_pt22k.pth beit_b_512.pth --img-size 512
    siameseim-convert dinov2_vitb14_reg4_pretrain.pth dinov2_b14_reg.pth
    siameseim-convert path/to/hf_model_folder hf_vit.pth   # config.json + model.safetensors

The output (``{'state_dict': canonical, 'meta': {...}}``, :func:`siameseim.checkpoint.converted_checkpoint`) is
written only after the weights loaded into a backbone built for them (``--arch``, or inferred from the shapes)
without unexplained missing or unused keys, and atomically (temporary file, fsync, rename): a failed run leaves
no output file. Bad input, a checkpoint holding NaN/inf included, ends with one ``error:`` line on stderr and exit
code 2.
"""
import argparse
import os
import sys
import warnings
from typing import Any, List, Mapping, NoReturn, Optional

from siameseim.atomic import save_atomically
from siameseim.checkpoint import (CheckpointError, UntrustedPickleWarning, check_architecture, converted_checkpoint,
                                  infer_arch, load_pretrained, read_checkpoint, to_canonical)
from siameseim.cli_checks import positive_int
from siameseim.models.vit import ViT, resolve_arch

EXIT_ERROR = 2


class _UsageError(Exception):
    """Bad command line, reported as one ``error:`` line like every other bad input."""


class _Parser(argparse.ArgumentParser):

    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('input', help='checkpoint to convert (.pth/.pt/.bin/.safetensors, or a Hugging Face '
                        'transformers folder)')
    parser.add_argument('output', help='converted checkpoint to write')
    parser.add_argument('--arch', help="backbone preset to validate against ('vit-b', 'large', ...); "
                        'inferred from the tensor shapes when omitted')
    parser.add_argument('--num-heads', type=positive_int, help='attention heads, for widths without a preset')
    parser.add_argument('--keep-head', action='store_true', help='keep the classifier (fc_norm, head)')
    parser.add_argument('--target-encoder', action='store_true',
                        help='export the SiameseIM target encoder (mm_*) or the MoCo-v3 momentum encoder')
    parser.add_argument('--trust-pickle', action='store_true',
                        help='unpickle arbitrary objects (can run code): only for files you trust')
    parser.add_argument('--img-size', type=positive_int, help='resize position tables for this input size')
    return parser


def _validation_backbone(arch: Mapping[str, Any], arch_name: Optional[str], num_heads: Optional[int],
                         img_size: Optional[int], keep_head: bool):
    """A backbone with the checkpoint's options (cls token, registers, norms, LayerScale, MLP, activation,
    relative positions, head)."""
    if arch_name is not None:
        try:
            sizes = resolve_arch(arch_name)
        except ValueError as err:
            raise CheckpointError(str(err)) from None
    else:
        sizes = {key: arch[key] for key in ('embed_dim', 'depth', 'num_heads', 'patch_size')}
    if num_heads is not None:
        sizes['num_heads'] = num_heads
    if sizes['num_heads'] is None:
        raise CheckpointError(f"cannot infer the number of heads of a width-{arch['embed_dim']} ViT: "
                              f"pass --num-heads (or --arch)")
    check_architecture(arch, **sizes)  # before building: a wrong --arch fails fast, also for ViT-H sizes
    grid = arch['pos_embed_grid'] or arch['rel_pos_bias_grid']
    patch_size = sizes['patch_size']
    native_size = (grid[0] * patch_size, grid[1] * patch_size) if grid else 224
    has_head = keep_head and arch['num_classes'] > 0
    return ViT(
        arch=None,
        **sizes,
        in_chans=arch['in_chans'],
        mlp_ratio=arch['mlp_ratio'],
        img_size=img_size or native_size,
        pretrain_img_size=img_size or native_size,
        cls_token=arch['cls_token'],
        num_reg_tokens=arch['num_reg_tokens'],
        norm_pre=arch['norm_pre'],
        mlp_layer=arch['mlp_layer'],
        qkv_bias=arch['qkv_bias'],
        act_layer=arch['act_layer'] or 'gelu',
        norm_eps=arch['norm_eps'] or 1e-6,
        pos_embed='learned' if arch['pos_embed'] else 'none',
        layer_scale_init=1.0 if arch['layer_scale'] else None,
        use_rel_pos_bias=arch['rel_pos_bias_grid'] is not None,
        use_rel_pos=arch['rel_pos'] and not arch['cls_token'],
        final_norm=arch['final_norm'],
        fc_norm=keep_head and arch['fc_norm'],
        global_pool=('avg' if arch['fc_norm'] else 'cls') if has_head else None,
        num_classes=arch['num_classes'] if has_head else 0)


def convert(args: argparse.Namespace) -> str:
    """Run one conversion; returns the summary line. Raises CheckpointError / OSError on bad input."""
    if args.trust_pickle:
        print(f'warning: unpickling {args.input} with weights_only=False can run code stored in it; '
              f'do this only for files you trust', file=sys.stderr)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UntrustedPickleWarning)
        checkpoint = read_checkpoint(args.input, trust_pickle=args.trust_pickle)
    options = dict(keep_head=args.keep_head, use_target_encoder=args.target_encoder)
    state_dict, metadata = to_canonical(checkpoint, **options)
    model = _validation_backbone(metadata['arch'], args.arch, args.num_heads, args.img_size, args.keep_head)
    report = load_pretrained(model, checkpoint, strict=True, **options)
    report.source = args.input
    print(report.describe(limit=None))  # every resized / missing / dropped key (block indices folded)

    if args.img_size:
        loaded = model.state_dict()
        for key, _, _ in report.resized:
            state_dict[key] = loaded[key].to(state_dict[key].dtype)
        metadata['arch'] = infer_arch(state_dict, num_heads=model.num_heads, pos_embed_grid=model.pos_embed_grid)
    metadata['arch']['num_heads'], metadata['arch']['num_heads_source'] = model.num_heads, 'validated backbone'
    save_atomically(converted_checkpoint(state_dict, metadata), args.output)
    size_mb = os.path.getsize(args.output) / 2**20
    arch = metadata['arch']
    return (f"wrote {args.output}: {metadata['source_format']} -> siameseim-suite, width {arch['embed_dim']}, "
            f"depth {arch['depth']}, heads {arch['num_heads']}, patch {arch['patch_size']}, "
            f'{len(state_dict)} tensors, {size_mb:.1f} MiB')


def main(argv: Optional[List[str]] = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except _UsageError as err:
        print(f'error: {err} (see --help)', file=sys.stderr)
        return EXIT_ERROR
    try:
        print(convert(args))
    except (CheckpointError, OSError) as err:
        print(f'error: {err}', file=sys.stderr)
        return EXIT_ERROR
    return 0


if __name__ == '__main__':
    sys.exit(main())
