"""Data-parallel training: one rank per process, started by ``python main.py train --nproc N`` (``core.runs.launch``)
or by ``torchrun`` (one machine or several).

A process is a rank of a distributed run when its launcher set ``WORLD_SIZE`` > 1 (with ``RANK``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``, as torchrun does). The ranks hold identical replicas:
they start from rank 0's weights, each trains on its own shard of every epoch, and the gradients of every
backward pass are averaged across ranks before the pass returns, which is what ``DistributedDataParallel``
does; it is done here with gradient hooks because each family runs its own step (two optimisers for a GAN,
clipping for an audio denoiser), which DDP's wrapper cannot see. The logged figures are all-reduced and
rank 0 alone writes files. Gloo on CPUs, NCCL on CUDA GPUs.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from ..errors import LatentExplorerError, TrainingError
from ..threads import skip_teardown


@dataclass(frozen=True)
class Ranks:
    """Where this process stands in its run: its rank, the number of ranks, its rank on its machine."""
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the one that writes the run's files and shows progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


SINGLE = Ranks()


def from_environment(env=os.environ) -> Ranks:
    """The ranks a launcher (torchrun, ``core.runs.launch``) set in the environment; ``SINGLE`` when none did."""
    world = int(env.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE
    return Ranks(int(env["RANK"]), world, int(env.get("LOCAL_RANK", env["RANK"])))


def join(ranks: Ranks, device: torch.device) -> None:
    """Join the process group of ``ranks`` (once per process): NCCL for a CUDA device, else Gloo."""
    if ranks.distributed and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=ranks.rank,
                                world_size=ranks.world_size)


def leave() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_initialized():
        dist.destroy_process_group()


def rank_device(device: torch.device, ranks: Ranks) -> torch.device:
    """A CUDA rank uses the GPU of its local rank (NCCL wants one GPU per rank); a distributed run on
    another device than a CPU or a CUDA GPU is refused."""
    if not ranks.distributed or device.type == "cpu":
        return device
    if device.type != "cuda":
        raise LatentExplorerError(f"distributed training runs on CPUs or CUDA GPUs, not {device.type}")
    if ranks.local_rank >= torch.cuda.device_count():
        raise LatentExplorerError(f"rank {ranks.rank} needs a GPU of its own: this machine has "
                                  f"{torch.cuda.device_count()} for {ranks.local_rank + 1} or more processes")
    return torch.device("cuda", ranks.local_rank)


def shard(order: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    """This rank's share of ``order`` (an epoch's shuffled indices): every ``world_size``-th item from its
    rank on, the order first padded with its own head so that every rank gets as many items (as
    ``DistributedSampler`` does) and takes as many steps."""
    if not ranks.distributed:
        return order
    pad = -len(order) % ranks.world_size
    padded = torch.cat([order, order[:pad]]) if pad else order
    return padded[ranks.rank::ranks.world_size]


def shard_length(n: int, ranks: Ranks) -> int:
    """How many of ``n`` items each rank gets from ``shard``."""
    return -(-n // ranks.world_size)


@contextlib.contextmanager
def _with_the_others():
    """A collective: when another rank is gone (killed, or ended by an error), one line says so."""
    try:
        yield
    except RuntimeError as exc:
        skip_teardown()  # with a peer gone, Gloo's connections aborted this rank at exit (1 exit in 8)
        raise TrainingError("lost contact with another process of this run: it ended or was killed "
                            f"({str(exc).splitlines()[0][:160]})") from exc


def all_sum(values: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    """``values`` summed over the ranks (a no-op in a single process)."""
    if ranks.distributed:
        values = values.clone()
        with _with_the_others():
            dist.all_reduce(values)
    return values


def agree_min(value: int, ranks: Ranks) -> int:
    """The smallest of the ranks' ``value``s: decisions that rest on timings are taken together."""
    if not ranks.distributed:
        return value
    t = torch.tensor([value], dtype=torch.int64, device=_collective_device())
    with _with_the_others():
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return int(t)


def any_rank(flag: bool, ranks: Ranks) -> bool:
    """Whether any rank's ``flag`` is set (e.g. a stop request that one rank received)."""
    return bool(flag) if not ranks.distributed else agree_min(0 if flag else 1, ranks) == 0


def replicate(model: nn.Module, ranks: Ranks) -> None:
    """Give every rank rank 0's parameters and buffers."""
    if ranks.distributed:
        with _with_the_others():
            for t in [*model.parameters(), *model.buffers()]:
                dist.broadcast(t.data, src=0)


def _collective_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


class GradientAverager:
    """Averages the gradients of ``model``'s parameters across ranks at the end of every backward pass.

    Each parameter's hook notes that its gradient is complete; the first one of a pass queues a callback
    that the autograd engine runs when the pass is over: it all-reduces those gradients (flattened, one
    collective per dtype and device) and divides them by the world size. Every rank runs the same step on
    the same model, so every rank reduces the same parameters in the same order.
    """

    def __init__(self, model: nn.Module, ranks: Ranks):
        self.world_size = ranks.world_size
        self._order = {p: i for i, p in enumerate(model.parameters()) if p.requires_grad}
        self._ready: list[nn.Parameter] = []
        self._handles = [p.register_post_accumulate_grad_hook(self._on_gradient) for p in self._order]

    def _on_gradient(self, param: nn.Parameter) -> None:
        if not self._ready:
            torch.autograd.Variable._execution_engine.queue_callback(self._average)
        self._ready.append(param)

    def _average(self) -> None:
        params, self._ready = sorted(self._ready, key=self._order.__getitem__), []
        groups: dict[tuple, list[torch.Tensor]] = {}
        for p in params:
            groups.setdefault((p.grad.dtype, p.grad.device), []).append(p.grad)
        for grads in groups.values():
            flat = torch._utils._flatten_dense_tensors(grads)
            with _with_the_others():
                dist.all_reduce(flat)
            flat.div_(self.world_size)
            for grad, averaged in zip(grads, torch._utils._unflatten_dense_tensors(flat, grads)):
                grad.copy_(averaged)

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
