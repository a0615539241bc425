"""The training step as the loop runs it: each family's own ``train_step``, made to keep a GPU busy.

On a CUDA device: Adam fused into one kernel per parameter group and graph-safe (``tune_optimizers``),
channels-last convolutions where the model allows them, bf16 autocast where asked for, and the whole step
(forward, backward, optimiser) captured once as a CUDA graph and replayed for every batch of the same shape,
so that Python and kernel launches no longer set the pace. The capture falls back to running the step as it
is where it cannot work: on CPUs and MPS, for batches of another shape (an epoch's last), for a step that
waits on the host (reads a tensor's value), and in distributed runs. On any device the family's loss can be
compiled by ``torch.compile`` for the steps (not for evaluation): ~25 % faster for the MLP VAE on a CPU,
after a compilation that takes seconds to minutes, so it is asked for, not the default. The loss
components come back stacked in one device tensor, never read on the host here.
"""
from __future__ import annotations

import contextlib
import copy
import time
import warnings
from typing import Callable

import torch
from torch import nn

#: eager steps before a capture: lazy initialisations (optimiser state, cuDNN plans, data-dependent inits)
WARMUP_STEPS = 3


def tune_optimizers(optimizers: dict[str, torch.optim.Optimizer], device: torch.device) -> None:
    """Adam and AdamW fused (one kernel per parameter group; on a CPU too, where it is ~20 % faster than
    torch's default for the MLP VAE) and, on a CUDA device, capturable (the step counter on the GPU, so that
    a CUDA graph can hold the whole step); on other devices torch's defaults. Call after loading optimiser
    states and after changing the parameters' memory format: a checkpoint brings the flags of the device it
    was written on, and fused kernels want every state tensor laid out as its parameter."""
    cuda, fused = device.type == "cuda", device.type in ("cuda", "cpu")
    flags = {"fused": True if fused else None, "foreach": False if fused else None, "capturable": cuda}
    for opt in optimizers.values():
        if not isinstance(opt, (torch.optim.Adam, torch.optim.AdamW)):
            continue
        for group in opt.param_groups:
            group.update(flags)
        for param, state in opt.state.items():
            for key, value in state.items():
                if key == "step":
                    state[key] = value.to(device if fused else "cpu", torch.float32)
                elif isinstance(value, torch.Tensor) and value.shape == param.shape \
                        and value.stride() != param.stride():
                    state[key] = torch.empty_like(param).copy_(value)


def has_convolutions(model: nn.Module) -> bool:
    return any(isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) for m in model.modules())


def channels_last_works(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> bool:
    """Whether a copy of ``model`` in channels-last memory format computes its loss and gradients on two
    examples of ``batch`` (some models reshape activations with ``view``, which that layout refuses)."""
    probe = copy.deepcopy(model).to(memory_format=torch.channels_last)
    try:
        probe.loss(*(t[:2] for t in batch))["total"].backward()
        return True
    except RuntimeError:
        return False


def as_channels_last(batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return tuple(t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t for t in batch)


class StepRunner:
    """Runs ``model.train_step`` on batches and returns the loss components as one stacked device tensor
    (in the order of ``names``; valid until the next call, which may overwrite it).

    ``mode`` says how steps run: ``eager`` or ``compiled``, then ``cuda-graph`` once the capture has
    worked; ``note`` says why a capture was not used. ``autocast``: a dtype for ``torch.autocast`` (bf16), or
    None. ``compile``: the steps call the family's loss compiled by ``torch.compile``.
    """

    def __init__(self, model: nn.Module, optimizers: dict, device: torch.device, graphs: bool = True,
                 autocast: torch.dtype | None = None, channels_last: bool = False, compile: bool = False):
        self.model, self.optimizers, self.device = model, optimizers, device
        self.autocast, self.channels_last = autocast, channels_last
        self._compiled_loss = torch.compile(model.loss) if compile else None
        self.names: list[str] = []
        self.mode = "compiled" if compile else "eager"
        self.note = "" if graphs and device.type == "cuda" else "CUDA graphs need a CUDA device"
        self._capture = graphs and device.type == "cuda"
        self._eager_steps = 0
        self._graph: torch.cuda.CUDAGraph | None = None
        self._inputs: tuple[torch.Tensor, ...] = ()
        self._output: torch.Tensor | None = None

    def __call__(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        if self.channels_last:
            batch = as_channels_last(batch)
        if self._graph is not None and _same_shapes(batch, self._inputs):
            for static, t in zip(self._inputs, batch):
                static.copy_(t, non_blocking=True)
            self._graph.replay()
            return self._output
        if not self._capture:
            return self._eager(batch)
        if self._eager_steps < WARMUP_STEPS:
            self._eager_steps += 1
            return self._warm_up(batch, check=self._eager_steps == WARMUP_STEPS)
        if self._graph is None:
            self._try_capture(batch)
            if self._graph is not None:
                return self(batch)
        return self._eager(batch)  # a batch of another shape

    def forget_graph(self) -> None:
        """Capture the step again at the next batch (a captured step keeps the learning rate it was captured with)."""
        self._graph, self._inputs, self._output = None, (), None

    def _eager(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        with self._autocast(), self._loss_compiled():
            losses = self.model.train_step(*batch, self.optimizers)
        if not self.names:
            self.names = list(losses)
        return torch.stack([losses[k].float() for k in self.names])

    @contextlib.contextmanager
    def _loss_compiled(self):
        """The family's step calls the compiled loss (an attribute of the instance for the step's length)."""
        if self._compiled_loss is None:
            yield
            return
        self.model.loss = self._compiled_loss
        try:
            yield
        finally:
            del self.model.loss

    def _autocast(self):
        if self.autocast is None:
            return contextlib.nullcontext()
        # cached casts of the weights would be stale in a replayed graph
        return torch.autocast(self.device.type, dtype=self.autocast, cache_enabled=not self._capture)

    def _warm_up(self, batch: tuple[torch.Tensor, ...], check: bool) -> torch.Tensor:
        """An eager step on a side stream, as a capture wants; with ``check``, CUDA's sync debugging on: a step
        that waits on the host (reads a value, copies to the CPU) cannot be captured."""
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        previous = torch.cuda.get_sync_debug_mode()
        with warnings.catch_warnings(record=True) as caught, torch.cuda.stream(side):
            warnings.simplefilter("always")
            if check:
                torch.cuda.set_sync_debug_mode("warn")
            try:
                out = self._eager(batch)
            finally:
                torch.cuda.set_sync_debug_mode(previous)
        torch.cuda.current_stream(self.device).wait_stream(side)
        syncs = [w for w in caught if "synchroniz" in str(w.message)]
        if syncs:
            self._capture, self.note = False, f"the step waits on the host ({str(syncs[0].message).splitlines()[0]})"
        for w in caught:
            if w not in syncs:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return out

    def _try_capture(self, batch: tuple[torch.Tensor, ...]) -> None:
        """Capture one whole step on static copies of ``batch``'s tensors; on failure run eagerly for good.
        Capturing runs no kernel: the step of this batch is the first replay."""
        inputs = tuple(t.clone() for t in batch)
        graph = torch.cuda.CUDAGraph()
        try:
            torch.cuda.synchronize(self.device)
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):  # other threads may use CUDA
                output = self._eager(inputs)
        except Exception as exc:  # anything a capture refuses: the step stays eager
            self._capture, self.note = False, f"capture failed: {str(exc).splitlines()[0][:200]}"
            torch.cuda.synchronize(self.device)
            return
        self._graph, self._inputs, self._output, self.mode, self.note = graph, inputs, output, "cuda-graph", ""


def _same_shapes(batch: tuple[torch.Tensor, ...], inputs: tuple[torch.Tensor, ...]) -> bool:
    return len(batch) == len(inputs) and all(a.shape == b.shape and a.dtype == b.dtype for a, b in zip(batch, inputs))


class LossMeans:
    """Example-weighted sums of the loss components of the steps since the last row, kept on the device; the
    means cost one transfer when a row is logged. ``reduce`` (e.g. a sum over ranks) sees the sums and
    the count before they are divided."""

    def __init__(self):
        self._sums: torch.Tensor | None = None
        self.count = 0

    def add(self, losses: torch.Tensor, n: int) -> None:
        self._sums = losses * n if self._sums is None else self._sums.add_(losses, alpha=n)
        self.count += n

    def __bool__(self) -> bool:
        return self.count > 0

    def state(self) -> dict:
        """The sums and count so far as plain numbers (a checkpoint keeps a half-logged row)."""
        return {"sums": [] if self._sums is None else self._sums.tolist(), "count": self.count}

    def restore(self, state: dict | None, device: torch.device) -> None:
        self._sums, self.count = None, 0
        if state and state.get("count"):
            self._sums = torch.tensor(state["sums"], device=device)
            self.count = int(state["count"])

    def means(self, names: list[str], reduce: Callable[[torch.Tensor], torch.Tensor] = lambda t: t) -> dict:
        totals = reduce(torch.cat([self._sums, self._sums.new_tensor([self.count])])).tolist()
        self._sums, self.count = None, 0
        return {name: value / totals[-1] for name, value in zip(names, totals)}


def throughput_batch(step_seconds: Callable[[int], float], start: int, limit: int, slack: float = 1.5) -> int:
    """The batch for throughput: doubling from ``start`` (up to ``limit``) while a doubled batch's step takes
    at most ``slack`` times as long, i.e. while the step is still short enough that the GPU waited on the
    host rather than computed; a batch that does not fit in memory ends the search."""
    best, best_time = start, step_seconds(start)
    while best * 2 <= limit:
        try:
            seconds = step_seconds(best * 2)
        except torch.cuda.OutOfMemoryError:
            break
        if seconds > slack * best_time:
            break
        best, best_time = best * 2, seconds
    return best


def step_seconds(model: nn.Module, batch: tuple[torch.Tensor, ...], size: int, lr: float, device: torch.device,
                 steps: int = 5, **runner_options) -> float:
    """Seconds per training step on a batch of ``size`` examples (``batch`` repeated), measured on a copy
    of ``model`` with fresh optimisers, run as the loop runs steps (``runner_options`` of ``StepRunner``)."""
    probe = copy.deepcopy(model)
    optimizers = probe.configure_optimizers(lr)
    tune_optimizers(optimizers, device)
    runner = StepRunner(probe, optimizers, device, **runner_options)
    data = tuple(torch.cat([t] * -(-size // len(t)))[:size] for t in batch)
    for _ in range(WARMUP_STEPS + 1):  # the warm-up and, on CUDA, the capture
        runner(data)
    _synchronize(device)
    tick = time.perf_counter()
    for _ in range(steps):
        runner(data)
    _synchronize(device)
    return (time.perf_counter() - tick) / steps


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
