"""Synchronised batch norm (``train.sync_batchnorm``): statistics over the global batch, not each process's.

On CUDA this is PyTorch's ``nn.SyncBatchNorm``. Its kernels exist for GPUs only,
so on CPUs (gloo) the same layer computes the global mean and variance with a
differentiable all-reduce (its backward all-reduces the gradients, as
``torch.distributed.nn.functional.all_reduce`` did before its deprecation), so
the backward pass is exact too, double backward included.
The state dict keys are those of ``nn.BatchNorm2d``: checkpoints load either way.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes; every process's output feeds every process's loss, so the gradient is summed too."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor, group) -> torch.Tensor:
        ctx.group = group
        tensor = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(tensor, group=group)
        return tensor

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return _AllReduceSum.apply(grad, ctx.group), None


def all_reduce(tensor: torch.Tensor, group) -> torch.Tensor:
    return _AllReduceSum.apply(tensor, group)


class SyncBatchNorm(nn.SyncBatchNorm):
    """``nn.SyncBatchNorm`` that also synchronises CPU tensors."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if input.device.type != "cpu" or not self.training or not dist.is_initialized() or dist.get_world_size() == 1:
            return super().forward(input)
        self._check_input_dim(input)
        factor = 0.0
        if self.track_running_stats:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        x = input.float()
        dims = [0] + list(range(2, x.dim()))
        shape = [1, -1] + [1] * (x.dim() - 2)
        group = self.process_group or dist.group.WORLD
        # Sums and element counts of every process (whose batches may differ in size), in one all-reduce.
        sums = all_reduce(torch.cat([x.sum(dims), x.new_tensor([x.numel() // x.shape[1]])]), group)
        count = sums[-1].detach()
        mean = sums[:-1] / count
        centred = x - mean.view(shape)
        var = all_reduce(centred.square().sum(dims), group) / count  # biased, as batch norm normalises
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), factor)
                unbiased = var.detach() * (count / (count - 1.0).clamp(min=1.0))
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), factor)
        return out.to(input.dtype)


def convert(module: nn.Module) -> nn.Module:
    """Replace every batch-norm layer of ``module`` by a synchronised one (same parameters and buffers)."""
    module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for layer in module.modules():
        if type(layer) is nn.SyncBatchNorm:
            layer.__class__ = SyncBatchNorm  # adds the CPU path; same state, same parameters
    return module
