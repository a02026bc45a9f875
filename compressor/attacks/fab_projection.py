"""FAB's inner step: the smallest move from a point onto a hyperplane without leaving the [0,1] box.

For rows t, w, b we want the d of least L-inf (or L2) norm with <w, t + d> = b and 0 <= t + d <= 1.
After flipping w so the plane lies "below" t, coordinate i moves by m_i >= 0 towards the box face that
lowers <w, .>, with room p_i (t_i or 1 - t_i). At the optimum m_i = min(lam, p_i) for L-inf and
m_i = min(lam |w_i|, p_i) for L2, so the decrease f(lam) = sum_i a_i min(lam, r_i) (a = |w|, r = p for
L-inf; a = w^2, r = p / |w| for L2) is piecewise linear and increasing: lam is read off the breakpoint
where f reaches the gap, found for all rows at once with a sort and a search (the reference code does
a bisection loop). Rows whose plane the box cannot reach move to the nearest corner, as in FAB.
"""

from __future__ import annotations

import torch
from torch import Tensor

from compressor.attacks.base import Norm

_FAR = 1e12


def project_onto_hyperplane_box(t: Tensor, w: Tensor, b: Tensor, norm: Norm) -> Tensor:
    """Per row of ``t`` [N, D], the least-norm d with <w, t + d> = b and t + d inside [0, 1]^D."""
    gap = (w * t).sum(1) - b
    w = torch.where((gap < 0)[:, None], -w, w)
    gap = gap.abs()
    aw = w.abs()
    room = torch.where(w > 0, t, 1.0 - t)
    if norm == "linf":
        breaks, slope = room, aw
    else:
        breaks = torch.where(aw > 0, room / aw.clamp_min(1e-30), torch.full_like(room, _FAR)).clamp(max=_FAR)
        slope = aw * aw
    breaks, order = breaks.sort(dim=1)
    slope = slope.gather(1, order)
    full = (aw * room).gather(1, order)  # a_i * r_i: what coordinate i gives when it is used up
    used = full.cumsum(1) - full  # sum over earlier breakpoints, all used up
    rest = slope.flip(1).cumsum(1).flip(1)  # slopes still growing at this breakpoint
    reach = (used + breaks * rest).cummax(1).values
    k = torch.searchsorted(reach, gap[:, None].contiguous()).clamp(max=t.shape[1] - 1)
    lam = (gap[:, None] - used.gather(1, k)) / rest.gather(1, k).clamp_min(1e-30)
    lam = torch.where((gap <= reach[:, -1])[:, None], lam.clamp_min(0.0), torch.full_like(lam, float("inf")))
    move = torch.minimum(lam, room) if norm == "linf" else torch.minimum(lam * aw, room)
    return -torch.sign(w) * move
