"""Statistics of learning curves and final performance.

Curves (per episode, over seeds): mean with a percentile-bootstrap 95% band, mean +- 1 standard
error, exponential moving average (the paper's smoothing). Final performance (one number per
run): IQM and mean with stratified-bootstrap confidence intervals and the probability of
improvement, computed by rliable (Agarwal et al., NeurIPS 2021), with a fixed random state so
that reports are reproducible (rliable 1.2 ignores its `random_state` argument and draws from
numpy's global state, which is therefore seeded around each call and restored).
"""

from __future__ import annotations

import contextlib
from typing import Mapping

import numpy as np

CI = 0.95


def ema(x: np.ndarray, weight: float = 0.9) -> np.ndarray:
    """s_0 = x_0, s_t = weight * s_{t-1} + (1 - weight) * x_t along the last axis (NaNs are
    skipped: the average carries over them)."""
    x = np.asarray(x, dtype=float)
    if x.shape[-1] == 0:
        return x.copy()
    if np.isfinite(x).all():
        from scipy.signal import lfilter

        zi = weight * x[..., :1]
        y, _ = lfilter([1.0 - weight], [1.0, -weight], x, axis=-1, zi=zi)
        return y
    flat = x.reshape(-1, x.shape[-1])
    out = np.empty_like(flat)
    for i, row in enumerate(flat):
        s = np.nan
        for t, v in enumerate(row):
            if np.isfinite(v):
                s = v if not np.isfinite(s) else weight * s + (1.0 - weight) * v
            out[i, t] = s
    return out.reshape(x.shape)


def mean_se(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error (ddof=1) over axis 0; the s.e. of a single run is 0."""
    values = np.asarray(values, dtype=float)
    n = values.shape[0]
    mean = values.mean(axis=0)
    se = values.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.zeros_like(mean)
    return mean, se


def bootstrap_band(values: np.ndarray, reps: int = 1000, ci: float = CI,
                   seed: int = 0, block: int = 2048) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over axis 0 (runs) of `values` (runs, T) and its percentile-bootstrap `ci` band,
    resampling runs with replacement (the same resamples for every t). Memory: reps x block."""
    values = np.asarray(values, dtype=float)
    n, T = values.shape
    mean = values.mean(axis=0)
    if n < 2:
        return mean, mean.copy(), mean.copy()
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=reps).astype(float) / n  # (reps, n)
    lo, hi = np.empty(T), np.empty(T)
    q = [(1 - ci) / 2 * 100, (1 + ci) / 2 * 100]
    for start in range(0, T, block):
        means = counts @ values[:, start:start + block]          # (reps, block)
        lo[start:start + block], hi[start:start + block] = np.percentile(means, q, axis=0)
    return mean, lo, hi


def final_performance(curves: np.ndarray, last: int) -> np.ndarray:
    """Per run: the mean of its last `last` episodes (all if fewer). curves: (runs, episodes)."""
    curves = np.asarray(curves, dtype=float)
    return curves[:, max(0, curves.shape[1] - int(last)):].mean(axis=1)


def _random_state(seed: int) -> np.random.RandomState:
    # rliable 1.2 hands `random_state` to arch, which warns that the keyword is deprecated.
    import warnings

    warnings.filterwarnings("ignore", message="random_state is deprecated",
                            category=FutureWarning)
    return np.random.RandomState(seed)


@contextlib.contextmanager
def _seeded_global_rng(seed: int):
    """rliable 1.2's stratified bootstraps draw their resamples from numpy's *global* random
    state (`np.random.choice` in `update_indices`), ignoring `random_state`; seed the global
    state for the call and restore it afterwards, so that CIs are reproducible."""
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(saved)


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean over all entries: scipy.stats.trim_mean(scores, 0.25, axis=None), as
    rliable's `metrics.aggregate_iqm`, without scipy's per-call overhead (~10x faster, which
    matters inside a bootstrap)."""
    flat = np.sort(np.asarray(scores, dtype=float).reshape(-1))
    cut = int(0.25 * flat.size)
    return float(flat[cut:flat.size - cut].mean())


def iqm_mean(scores: np.ndarray) -> np.ndarray:
    """[IQM, mean] of a (runs, tasks) score matrix (rliable's aggregate IQM and mean)."""
    return np.array([iqm(scores), float(np.mean(scores))])


def prob_improvement(scores_x: np.ndarray, scores_y: np.ndarray) -> float:
    """P(X > Y) + P(X = Y) / 2 per task, averaged over tasks: rliable's
    `metrics.probability_of_improvement` (Mann-Whitney U / (n_x n_y)), computed by direct
    comparison instead of scipy.stats.mannwhitneyu (same value, far faster)."""
    x = np.asarray(scores_x, dtype=float)
    y = np.asarray(scores_y, dtype=float)
    per_task = []
    for t in range(x.shape[1]):
        a, b = x[:, t][:, None], y[:, t][None, :]
        per_task.append(float(((a > b).sum() + 0.5 * (a == b).sum()) / (a.size * b.size)))
    return float(np.mean(per_task))


def interval_estimates(scores: Mapping[str, np.ndarray], reps: int = 2000, seed: int = 0,
                       ci: float = CI) -> dict[str, dict[str, float]]:
    """IQM and mean with stratified-bootstrap (over runs within each task) percentile CIs.
    scores[name]: (runs, tasks). Returns name -> {iqm, iqm_low, iqm_high, mean, mean_low,
    mean_high}. A name with a single run gets its value as a zero-width interval."""
    from rliable import library as rly

    out: dict[str, dict[str, float]] = {}
    for name, s in scores.items():
        s = np.asarray(s, dtype=float)
        if s.ndim == 1:
            s = s[:, None]
        if s.shape[0] == 0:
            continue
        if s.shape[0] == 1 or np.all(s == s[0]):
            point = iqm_mean(s)
            lo, hi = point, point
        else:
            with _seeded_global_rng(seed):
                points, cis = rly.get_interval_estimates(
                    {name: s}, iqm_mean, reps=reps, confidence_interval_size=ci,
                    random_state=_random_state(seed))
            point, (lo, hi) = points[name], cis[name]
        out[name] = {"iqm": float(point[0]), "iqm_low": float(lo[0]),
                     "iqm_high": float(hi[0]), "mean": float(point[1]),
                     "mean_low": float(lo[1]), "mean_high": float(hi[1])}
    return out


def probability_of_improvement(x: np.ndarray, y: np.ndarray, reps: int = 2000, seed: int = 0,
                               ci: float = CI) -> dict[str, float]:
    """P(X > Y) (Mann-Whitney, ties count 1/2, averaged over tasks) with a stratified
    independent-bootstrap CI. x: (runs_x, tasks), y: (runs_y, tasks)."""
    from rliable import library as rly

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim == 1:
        x, y = x[:, None], y[:, None]
    point = prob_improvement(x, y)
    if x.shape[0] < 2 and y.shape[0] < 2:
        return {"p": point, "low": point, "high": point}
    with _seeded_global_rng(seed):
        points, cis = rly.get_interval_estimates(
            {"pair": (x, y)}, prob_improvement, reps=reps,
            confidence_interval_size=ci, random_state=_random_state(seed))
    lo, hi = np.asarray(cis["pair"]).reshape(-1)[:2]
    return {"p": float(points["pair"]), "low": float(lo), "high": float(hi)}


def iqm_difference(x: np.ndarray, y: np.ndarray, reps: int = 2000, seed: int = 0,
                   ci: float = CI) -> dict[str, float]:
    """IQM(X) - IQM(Y) of two sets of run scores (1-D) with a percentile CI from independent
    bootstraps of the runs of each (rliable's stratified bootstrap over the pair)."""
    from rliable import library as rly

    x = np.asarray(x, dtype=float).reshape(-1, 1)
    y = np.asarray(y, dtype=float).reshape(-1, 1)
    point = iqm(x) - iqm(y)
    if x.shape[0] < 2 and y.shape[0] < 2:
        return {"value": point, "low": point, "high": point}
    with _seeded_global_rng(seed):
        _, cis = rly.get_interval_estimates(
            {"pair": (x, y)}, lambda a, b: iqm(a) - iqm(b), reps=reps,
            confidence_interval_size=ci, random_state=_random_state(seed))
    lo, hi = np.asarray(cis["pair"]).reshape(-1)[:2]
    return {"value": float(point), "low": float(lo), "high": float(hi)}
