"""All-reduce DDP gradients in fp16 (detectron2 ``fp16_compression``, docs/protocols.md §1.5)."""
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmdet.registry import HOOKS
from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import fp16_compress_hook
from torch.nn.parallel import DistributedDataParallel


@HOOKS.register_module()
class Fp16CompressionHook(Hook):
    """Register PyTorch's ``fp16_compress_hook`` on the DDP-wrapped model before training.

    Gradients are cast to fp16 for the all-reduce and back afterwards, halving the communication. The runner
    wraps the model before ``before_train``, so the hook sees the DDP module; without DDP (one GPU, CPU) it
    does nothing.
    """

    priority = 'VERY_LOW'

    def before_train(self, runner) -> None:
        model = runner.model
        if not isinstance(model, DistributedDataParallel):
            print_log('Fp16CompressionHook: the model is not wrapped in DistributedDataParallel, gradients '
                      'are not compressed', logger='current')
            return
        if getattr(model, '_fp16_compression', False):
            return
        model.register_comm_hook(state=None, hook=fp16_compress_hook)
        model._fp16_compression = True
        print_log('Fp16CompressionHook: DDP gradients are all-reduced in fp16', logger='current')
