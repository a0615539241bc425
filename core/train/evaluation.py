"""The evaluation budget, a part of ``core.train.loop.TrainerBase``: validation, the train rows' figures,
previews and checkpoint snapshots together take at most ``eval_share`` of the wall time. Validation shrinks to
a fixed subset of the split when the whole would cost more (shared out between the ranks of a distributed
run); previews wait, but never more than ``PREVIEW_MAX_LAG_S``, and the run's last weights are always
previewed."""
from __future__ import annotations

import time
from typing import Callable

import torch

from . import distributed

#: validation covers at least this many examples (or the whole split, if smaller)
MIN_VALIDATION = 256
PREVIEW_MAX_LAG_S = 5.0  # previews come at least this often, whatever the evaluation budget says


class EvalBudget:
    """Keeps evaluation within ``share`` of the wall time since it was made: each cost is charged when spent."""

    def __init__(self, share: float):
        self.share, self.start, self.spent = share, time.perf_counter(), 0.0

    def allows(self, cost: float) -> bool:
        return self.spent + cost <= self.share * (time.perf_counter() - self.start)

    def charge(self, since: float) -> float:
        """Charge the time since ``since`` (a ``perf_counter`` reading); returns it."""
        cost = time.perf_counter() - since
        self.spent += cost
        return cost


class Evaluation:
    """Validation passes, previews and evaluation hooks of a ``TrainerBase``, within its budget."""

    def _maybe_preview(self) -> None:
        """A preview when the interval has passed and the evaluation budget allows its cost, or in any case once
        the last one is ``PREVIEW_MAX_LAG_S`` old (rank 0 only)."""
        since = time.perf_counter() - self._last_preview
        if not self.ranks.main or since < self.cfg.preview_interval_s \
                or (since < PREVIEW_MAX_LAG_S and not self._budget.allows(self._preview_cost)):
            return
        tick = time.perf_counter()
        self._eval(self.preview)
        self._preview_cost = self._budget.charge(tick)
        self._last_preview, self._preview_step = time.perf_counter(), self.step

    def _last_preview_of_run(self) -> None:
        """The run's final weights previewed as it ends (finished or stopped), whatever the budget says."""
        if self.ranks.main and self._preview_step != self.step:
            self._eval(self.preview)
            self._preview_step = self.step

    def _validate(self) -> dict:
        """One validation pass over as many examples as the budget allows: the whole split when it can, else
        its first ``MIN_VALIDATION`` times a power of two (so that the count seldom changes), shared out
        between the ranks. The session's first pass times the first ``MIN_VALIDATION`` examples before it
        decides. The row's figures, plus ``val_items`` when not the whole split."""
        size = self.validation_size()
        tick = time.perf_counter()
        self._epoch_time = tick - self._trained_since
        timing = self._val_cost is None
        count = min(size, MIN_VALIDATION) if timing else self._validation_count(size)
        totals = self._validation_totals(0, count)
        if timing:
            self._val_cost = (time.perf_counter() - tick) / _share(count, self.ranks)
            more = self._validation_count(size)
            if more > count:
                totals = {k: v + totals[k] for k, v in self._validation_totals(count, more).items()}
                count = more
        self._val_cost = self._budget.charge(tick) / _share(count, self.ranks)
        self._trained_since = time.perf_counter()
        row = self.validation_row(totals, count)
        return row if count == size else {**row, "val_items": count}

    def _validation_totals(self, start: int, stop: int) -> dict[str, float]:
        """The validation sums over examples ``start`` to ``stop`` - 1 of the split, added up over the ranks
        (each takes every ``world_size``-th)."""
        sums = self.validation_sums(list(range(start + self.ranks.rank, stop, self.ranks.world_size)))
        values = torch.stack([torch.as_tensor(v, dtype=torch.float32).to(self.device).reshape(())
                              for v in sums.values()])
        return dict(zip(sums, distributed.all_sum(values, self.ranks).tolist()))

    def _validation_count(self, size: int) -> int:
        """How many validation examples the budget affords (see ``_validate``), agreed between the ranks."""
        least = min(size, MIN_VALIDATION)
        if size <= least:
            return size
        affordable = self.cfg.eval_share / 2 * self._epoch_time / self._val_cost * self.ranks.world_size
        count = least
        while count * 2 <= min(size, affordable):
            count *= 2
        return distributed.agree_min(size if affordable >= size else count, self.ranks)

    def _eval(self, hook: Callable, *args):
        """Run an evaluation hook with the model in eval mode and no gradients."""
        self.model.eval()
        try:
            with torch.no_grad():
                return hook(*args)
        finally:
            self.model.train()


def _share(count: int, ranks: distributed.Ranks) -> int:
    """How many of ``count`` examples one rank validates (at least 1, for rates)."""
    return max(1, -(-count // ranks.world_size))
