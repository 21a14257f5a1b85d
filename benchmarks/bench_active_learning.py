"""Benchmark: frames to annotate before the A-line SVM reaches F1 >= 0.85, by strategy.

Claim (issue 20, section 2): choosing the next frames by uncertainty (the annotation loop's
proposals, :mod:`napari_plaque.ivus.active`) needs at most half the frames that random frames
need to reach a held-out A-line F1 of 0.85; and one SVM refit on 50,000 A-lines takes < 2 s.

Per seed: a synthetic pullback (``samples/ivus.py``, ``--preset``, ``--frames`` frames of
``--size`` pixels, the seed changes its geometry); a third of its frames (random) are held
out and never annotated. A simulated annotator answers with the true calcium arcs. Every
strategy starts from the same ``--start`` random frames and adds ``--batch`` frames per round,
retraining the SVM through :class:`~napari_plaque.ivus.loop.AnnotationLoop` after each round,
until the held-out F1 (smoothed predictions, the held-out frames' A-lines) reaches
``--target``:

- ``uncertainty``: the loop's proposals (:func:`~napari_plaque.ivus.active.propose_next`,
  the default strategy ``"diverse"``: the frames whose A-lines the SVM calls calcium or doubts
  are least like any annotated frame's, k-center greedy on a doubt-weighted feature
  embedding; before the first detector the same on the frames' mean features), what the dock
  and ``propose-frames`` propose;
- ``margin``: the earlier default (``strategy="margin"``: most uncertain first, the frame's
  mean A-line margin uncertainty, spread along the pullback);
- ``spread``: ``margin`` with ``pullback_power=2`` (uncertainty weighed by the squared
  distance along the pullback to the nearest annotated frame; before the first detector,
  farthest along the pullback);
- ``coverage``: :func:`~napari_plaque.ivus.active.propose_frames` with ``descriptors``
  (uncertainty + coverage of k-means clusters of the A-line features; before the first
  detector, coverage alone);
- ``random``: random frames;
- ``every-nth``: frames evenly spaced over the pullback (re-spaced for each budget, so not a
  sequential annotation: each budget is a fresh choice of evenly spaced frames).

``margin`` takes random frames while the annotated frames hold one class only (no detector
can be trained); ``uncertainty``, ``spread`` and ``coverage`` use their cold-start rule. The
simulated annotator, the held-out frames, the start frame, the F1, the SVM and its refit are
the same for every strategy. Prints the frames each strategy needed per seed (``>N`` when it
never reached the target within ``--max-frames``), the median over seeds, each proposal
strategy's median over random's, and the refit time.

Run: ``.venv/bin/python benchmarks/bench_active_learning.py`` (the realistic preset, 5 seeds,
tables for F1 0.85 and 0.9, the refit: about 45-110 s on the shared machine);
``--quick`` (3 seeds, 0.85 only, no refit: about 10-20 s); ``--preset default --target 0.85
0.97`` the easy default pullback; ``--first-seed 5`` other seeds; ``--verbose`` the curves
and the frames chosen.

Measured 2026-12-04 (shared 2-core machine, load average 4-8; 160-frame 256 px pullbacks,
start 1 frame, +1 per round, max 40 frames; frames needed, per seed and median).

Realistic preset (one frame gives held-out F1 about 0.5-0.6, all frames 0.92-0.97), F1 0.85,
``--target 0.85 --no-refit`` (seeds 0-4) and ``--first-seed 5 --seeds 25``::

    seeds        0-4             5-9             10-14           15-19
    uncertainty  4  4  3  6  4   5  8  5  6  4   9  6  3  1  8   3  3  5  6  5
    margin       7 38 12 34  9  31 17 30  6  4  19  2 15  1 15   2  3 18 17  7
    spread       9  3  7  8  7   5  7  8  8  7  17  2  3  1 11   3  3  7 11  6
    random       5  4 27 24  9   5 30  9  6  4  16 22 10  1 12   4 11 11 10  7
    every-nth    5  5  4  8  4   3  8  6  5  3   8  5  5  5  8   5  6  7  6  6

    seeds        20-24           25-29
    uncertainty  3  7  4  5  6   4  7  7 11  5
    margin      37  5  4  9 31   4  5 30 18  4
    spread      10  6  5  5  8   6  5  7 11  8
    random       8 13  6 14  4   6  5 11 >40 4
    every-nth    6  8  4  5  7   4  8 13 11  8

    medians        0-4  5-9  10-14  15-19  20-24  25-29  | 0-29 (mean, max)
    uncertainty      4    5      6      5      5      7  |  5   (5.2, 11)
    margin          12   17     15      7      9      5  | 10.5 (14.5, 38)
    spread           7    7      3      6      6      7  |  7   (6.8, 17)
    random           9    6     12     10      8      6  |  9   (11.3, >40)
    every-nth        5    5      5      6      6      8  |  6   (6.2, 13)
    uncertainty / random: 0.44, 0.83, 0.50, 0.50, 0.63, 1.17 | 0.56

- The goal (uncertainty <= 0.5 x random at F1 0.85, median of 5 seeds) is met on the
  benchmark's seeds 0-4 (4 vs 9 frames) and on seeds 10-14 and 15-19, not on seeds 5-9,
  20-24 and 25-29; over 30 seeds the proposals need a median of 5 frames, random 9 (0.56),
  evenly spaced frames 6. The strategy was chosen on seeds 0-19; seeds 20-29 were run once
  afterwards (0.63 and 1.17 there: the goal is not robust). Random's own median swings from 6
  to 12 between groups of 5 seeds (the luck of its first calcium frame), so "half of random"
  at 5 seeds is mostly a statement about random's luck. A greedy oracle that peeks at the
  held-out F1 (an experiment not kept; seeds 0-4, every second frame a candidate) needs 2, 3,
  2, 4, 3 frames: the proposals (4, 4, 3, 6, 4) are about one frame from it.
- Why the earlier rule (``margin``, most uncertain first) lost to random (12 vs 9): (1) the
  stall: after a few frames the detector calls the attenuated plaque (a shadow without a
  bright edge) calcium *with confidence* (seed 1 at 10 frames: 859 false-positive A-lines on
  held-out frames of the three attenuation runs, 35 missed); those frames are far from the
  margin, so the mean-margin score never proposes them and F1 stays at 0.72-0.78 for 20-30
  frames; (2) with one proposal per round the spacing rule never acts, so it proposes the
  neighbours of annotated frames (near-duplicates 0.2 mm apart: 95, 96, 80, 94 ...); (3) its
  cold start is random (first calcium frame after 3.5 frames median over seeds 0-9). The
  spread constraint and the held-out set (a random third of the frames, never proposed) are
  not the cause. Calcium is on 24-34 % of the frames, so random frames mostly label frames
  without calcium, but evenly spaced ones do too and reach 0.85 in 5-6 frames.
- What changed it: (a) the cold start: k-center on the frames' mean standardised A-line
  features finds a calcium frame after a median of 2 frames (seeds 0-9; random 3.5, farthest
  along the pullback 5, k-center on the k-means descriptors 4); (b) counting the A-lines the
  detector *calls* calcium as well as those in its margin, so confident false positives are
  looked at; (c) diversity in feature space (k-center greedy, the annotated frames as
  centres), so neighbours of annotated frames come last and a new kind of frame first.
- Every strategy tried (F1 0.85 medians; the same loop, SVM and refit; an experiment
  script beside this benchmark's functions, not kept; ``m`` the margin, decision value minus
  threshold). Without diversity, cold start k-center, seeds 0-4: frame score = A-lines with
  |m| < 1: 33; A-lines with m > -1: 18; with m > 0: 15 (they pile on the neighbours of one
  calcium run); the earlier rule with the k-center cold start: 37. Score x distance to the
  nearest annotated frame in mean-feature space (``d``), seeds 0-9 (0-4): (m > -1 count) x d:
  6 (4); x d^2: 5.5 (4); (m > 0 count) x d: 6.5 (5); x d^2: 5 (5); (|m| < 1 count) x d: 6.5
  (5); mean margin uncertainty x d: 11 (14); x d^2: 6.5 (5); k-center on the mean features
  alone, no detector: 6.5 (5); exponents 1.5-4 and floors 0.1-0.5 of these products: 5-6.5.
  Seeds 0-19 (0-4): (m > -1 count) x (distance along the pullback)^2: 5 (5), its cold start
  farthest along the pullback: 6 (7); (m > -1 count) x d x pullback distance: 5 (5); the
  doubt-weighted embedding with m > -1 (the default): 5 (4); with m > 0: 4.5 (4); soft
  weights clip((m + 1) / 2, 0, 1): 5 (4); |m| < 1 (BADGE's hypothesised-label gradient):
  5.5 (33); the default plus 0.3 x the mean features: 5 (4). The default was kept for its
  worst case (max 9 over seeds 0-19; the (m > -1 count) x d^2 product: 20). After the
  held-out run, seeds 0-29: the default plus beta x the embedding of the other A-lines (the
  confidently negative ones, to look for missed calcium, seed 28's failure): beta 0.25, 0.5,
  1: medians 5, 5, 6 (the default 5; means 5.4, 5.6, 6.5 vs 5.2): not taken. Seeds 0-19,
  exploration mixed in (the cold-start mean-feature distance ``d0`` beside the doubt
  distance ``d1``, each over its maximum): alternating d0 / d1 rounds 5 (max 19); max(d1,
  0.5 d0) 5 (the same frames as the default); d1 + 0.3 d0 5; d1 + d0 5 (max 11): not taken.
- Fresh seeds 30-59 (run once per strategy, after the variants below were chosen on seeds
  0-19; 2026-12-04, load 1.4-2.6), ``--first-seed 30 --seeds 30 --target 0.85 --no-refit
  --strategies uncertainty random``::

    seeds        30-34           35-39           40-44           45-49
    uncertainty  5  7  3  5  2   4  4  4  6  5   3  5  7  4  3   2  5  9  3  3
    random       2 28 13  6 19   7  6  4  7 11   9 12  9 16 15   3  7  6  4 10

    seeds        50-54           55-59
    uncertainty  8  6  7  7  5   3  7  4 10  5
    random      20 12 15  8  7  11  8  6 >40 22

    medians        30-34 35-39 40-44 45-49 50-54 55-59 | 30-59 (mean, max)
    uncertainty        5     4     4     3     7     5 |  5   (5.0, 10)
    random            13     7    12     6    12    11 |  9   (11.5, >40)
    uncertainty / random: 0.38, 0.57, 0.33, 0.50, 0.58, 0.45 | 0.56

  The goal is met in 4 of these 6 groups (0.57 and 0.58 in the other two), and over the 30
  fresh seeds the ratio is 0.56 again, as on seeds 0-29: about 5 frames against random's 9.
- A second round of variants (2026-12-04; seeds 0-19 with ``--no-refit``, uncertainty only;
  an experiment script that monkeypatches the loop's proposals, not kept; median over
  seeds 0-19 (seeds 0-4), mean, max; the default there: 5 (4), 4.9, 9): a seed phase of 2
  frames farthest along the pullback before the core-set: 7 (7), 6.55, 12; the k-center
  distance times ``0.5 + 0.5 c / max c`` (``c`` the frame's doubted A-lines, so frames with
  much doubt win ties): 5 (4), 5.15, 11; k-center on the concatenated doubt-weighted mean
  and the max of the doubted A-lines' standardised features (each part scaled to the same
  largest norm): 5.5 (5), 7.4, 20; query-by-committee, 4 LinearSVCs (C 0.1) refit on
  bootstrap samples of the annotated frames, an A-line disputed where their votes split or
  their majority differs from the detector: disputed A-lines added to the doubted ones in
  the embedding 5 (5), 5.85, 19; the default distance times ``0.5 + 0.5 x`` (disputed
  count over its maximum) 5 (4), 5.3, 13; exploit / explore per round (exploit, the most
  A-lines called calcium times min(5, frames to the nearest annotated frame), while under
  15 % of the annotated A-lines are calcium; else the default): 5 (4), 5.05, 11. None beat
  the default on seeds 0-19. The two closest (the doubt-count weight and exploit / explore)
  were run once on the fresh seeds 30-59: doubt-count weight, per group 5, 4, 4, 5, 6, 4
  (ratios 0.38, 0.57, 0.33, 0.83, 0.50, 0.36), overall 5 (0.56; mean 5.1, max 11);
  exploit / explore 5, 4, 4, 3, 7, 5 (the default's ratios), overall 5 (0.56; mean 6.5,
  and >40 on seed 31). Neither is better than the default in every group or overall, so
  the default stays. The gap to the goal looks like the limit of this family of rules: a
  median of 5 frames against random's 9, with random's own median swinging 6-13 between
  groups of 5 seeds.
- F1 0.9 (seeds 0-4): uncertainty 4, 5, 10, 18, 4 (median 5), margin 35, spread 7, coverage
  13, random 9, every-nth 7.
- Earlier figures of ``spread`` and ``coverage`` (seeds 0-4 / 5-9): ``coverage`` (k-means
  coverage of the feature space + mean margin) 12 / 12 at F1 0.85; ``--spread-power`` sweep
  (seeds 0-9): 1 -> 7.5, 2 -> 7, 4 -> 7, 8 -> 7 frames.
- Default preset (``--preset default``; one or two frames with calcium give F1 0.85-0.97):
  at F1 0.85 every strategy needs 1 frame (medians), so no strategy can need half of
  another's (figures of the earlier rule; at F1 0.97 it needed 3, random 8).
- SVM refit on 50,000 A-lines: 0.13-0.83 s depending on the load (0.18 s at load 5; goal
  < 2 s); the loop's whole Train (5 held-out folds for the learning curve + the final fit) on
  139 annotated frames: 0.8-3.1 s (1.19 s at load 5).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from napari_plaque._progress import run_steps
from napari_plaque.ivus.active import (
    frame_descriptors,
    propose_frames,
    random_frames,
    regular_frames,
)
from napari_plaque.ivus.annotator import ArcAnnotator
from napari_plaque.ivus.loop import AnnotationLoop, _f1
from napari_plaque.samples.ivus import PRESETS, make_pullback_frames, truth_arcset
from napari_plaque.types import Pullback

STRATEGIES = ("uncertainty", "margin", "spread", "coverage", "random", "every-nth")
#: the ``spread`` strategy's AnnotationLoop(pullback_power=...)
SPREAD_POWER = 2.0


def _pullback(n: int, size: int, seed: int, **kw):
    frames, truth = make_pullback_frames(n_frames=n, size=size, seed=seed, **kw)
    pb = Pullback(frames, truth["frame_time_s"], truth["pullback_rate_mm_s"],
                  truth["pixel_spacing_mm"])  # fmt: skip
    return pb, truth_arcset(truth)


def _new_loop(pb, feats_from=None, spread=None, pullback_power=0.0, strategy="diverse"):
    loop = AnnotationLoop(ArcAnnotator(pb.n_frames, pb.frame_shape), pb, heldout_folds=0,
                          spread=spread, pullback_power=pullback_power,
                          strategy=strategy)  # fmt: skip
    if feats_from is not None:
        loop._features = feats_from._features  # same pullback, same centre: reuse features
    return loop


def _label(loop, truth, frames) -> None:
    ann = loop.annotator
    for f in frames:
        for a in truth.arcs_for(int(f), "calcium"):
            ann.arcset.add(int(f), "calcium", a.start_deg, a.end_deg)
    ann.reviewed |= {int(f) for f in frames}


def _score(loop, y_test, test) -> float | None:
    """Held-out F1 after a train (None: the annotated frames hold one class only)."""
    try:
        run_steps(loop.train_steps())
    except ValueError:
        return None
    thr = float(loop.model.meta.get("threshold", 0.0))
    return _f1(y_test, loop.scores[test] > thr)["f1"]


def run_strategy(name, pb, truth, test, start, args, base_loop, seed, target) -> tuple[int, list, list]:
    """Frames annotated when the held-out F1 first reaches the target (-1: never), the
    learning curve ``[(frames, F1)]`` and the frames annotated (in order)."""
    n = pb.n_frames
    y_test = truth.class_labels("calcium", 360)[test]
    order = random_frames(n, n, exclude=test, seed=seed + 1000)
    np.random.default_rng(seed + 2000).shuffle(order)  # the random strategy's order
    loop = _new_loop(pb, base_loop, args.spread, args.spread_power if name == "spread" else 0.0,
                     "diverse" if name == "uncertainty" else "margin")  # fmt: skip
    loop.excluded = set(test.tolist())
    desc = frame_descriptors(next(iter(base_loop._features.values()))) if name == "coverage" else None
    have = list(start)
    _label(loop, truth, have)
    curve = []
    while True:
        if name == "every-nth":  # a fresh annotation of len(have) evenly spaced frames
            loop = _new_loop(pb, base_loop, args.spread)
            _label(loop, truth, regular_frames(n, len(have), exclude=test))
        f1 = _score(loop, y_test, test)
        curve.append((len(have), None if f1 is None else round(f1, 3)))
        if f1 is not None and f1 >= target:
            return len(have), curve, have
        if len(have) >= args.max_frames:
            return -1, curve, have
        k = args.batch
        if name == "uncertainty":  # the loop's proposals (cold start included)
            new = loop.propose(k)
        elif name in ("margin", "spread") and f1 is not None:
            new = loop.propose(k)
        elif name == "coverage":  # uncertainty + feature-space coverage (cold start: coverage)
            u = loop.frame_uncertainty() if f1 is not None else None
            new = propose_frames(u, k, have, loop.spread, loop.excluded, descriptors=desc)
        elif name == "spread":  # cold start (no detector yet): farthest along the pullback
            new = propose_frames(None, k, have, loop.spread, loop.excluded,
                                 pullback_power=args.spread_power, n_frames=n)  # fmt: skip
        else:  # random (also for uncertainty while the frames hold one class only)
            new = [f for f in order if f not in have][:k]
        if not new:
            return -1, curve, have
        have += [int(f) for f in new]
        if name != "every-nth":
            _label(loop, truth, new)


def refit_time(n_alines: int = 50_000, size: int = 256, seed: int = 0) -> tuple[float, int]:
    """Seconds for one SVM refit (the loop's final fit) on ``n_alines`` A-lines."""
    n_frames = -(-n_alines // 360)
    pb, truth = _pullback(n_frames, size, seed)
    loop = _new_loop(pb)
    _label(loop, truth, range(n_frames))
    run_steps(loop.features_steps())
    from napari_plaque.ivus.svm import train_svm

    feats = loop._features[next(iter(loop._features))]
    data = loop.training_data(feats, np.arange(n_frames), [], loop.geometry())
    for k in ("X", "y", "pullback", "frame", "aline"):
        data[k] = data[k][:n_alines]
    train_svm(data, n_folds=1)  # warm up (imports)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        train_svm(data, n_folds=1)
        times.append(time.perf_counter() - t0)
    # the whole Train click of the loop: held-out folds (learning curve) + final fit
    loop.heldout_folds = 5
    t0 = time.perf_counter()
    run_steps(loop.train_steps())
    t_loop = time.perf_counter() - t0
    return min(times), int(data["X"].shape[0]), t_loop, n_frames


def _table(res: dict[str, list[int]], target: float, args) -> None:
    print(f"\nframes annotated to reach held-out A-line F1 >= {target} "
          f"({args.frames}-frame {args.size}px synthetic pullbacks, preset {args.preset}, start {args.start}, "
          f"+{args.batch}/round, {args.seeds} seeds)")  # fmt: skip
    print(f"{'strategy':<12} " + " ".join(f"{'s' + str(args.first_seed + i):>5}"
                                          for i in range(args.seeds))
          + f" {'median':>7}")  # fmt: skip
    med = {}
    for s, ns in res.items():
        shown = [f">{args.max_frames}" if n < 0 else str(n) for n in ns]
        vals = [args.max_frames + 1 if n < 0 else n for n in ns]
        med[s] = statistics.median(vals)
        print(f"{s:<12} " + " ".join(f"{v:>5}" for v in shown) + f" {med[s]:>7g}")
    for s in ("uncertainty", "margin", "spread", "coverage"):
        if s in med and "random" in med:
            ratio = med[s] / med["random"]
            verdict = "met" if ratio <= 0.5 else "NOT met"
            print(f"{s} / random = {ratio:.2f} (goal <= 0.5: {verdict})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds first-seed, first-seed + 1, ...")
    ap.add_argument("--frames", type=int, default=160)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--target", type=float, nargs="+", default=None,
                    help="held-out F1 to reach, one table each (default: 0.85 and 0.9 on "
                         "the realistic preset, 0.85 and 0.97 on the default one)")  # fmt: skip
    ap.add_argument("--preset", default="realistic", choices=PRESETS,
                    help="synthetic pullback preset (samples/ivus.py)")  # fmt: skip
    ap.add_argument("--quick", action="store_true",
                    help="a smaller run: 3 seeds, target 0.85 only, no refit timing")  # fmt: skip
    ap.add_argument("--n-calcium", type=int, default=None,
                    help="calcium segments per pullback (default: the preset's)")  # fmt: skip
    ap.add_argument("--n-attenuation", type=int, default=None,
                    help="attenuated-plaque segments (default: the preset's)")  # fmt: skip
    ap.add_argument("--noise", type=float, default=1.0, help="speckle strength")
    ap.add_argument("--start", type=int, default=1, help="random frames annotated first")
    ap.add_argument("--batch", type=int, default=1, help="frames added per round")
    ap.add_argument("--max-frames", type=int, default=40)
    ap.add_argument("--spread", type=int, default=None, help="proposal spacing (None: auto)")
    ap.add_argument("--spread-power", type=float, default=SPREAD_POWER,
                    help="the spread strategy's pullback_power")  # fmt: skip
    ap.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    ap.add_argument("--no-refit", action="store_true", help="skip the 50,000 A-line refit")
    ap.add_argument("--verbose", action="store_true", help="print each curve")
    args = ap.parse_args(argv)
    if args.target is None:
        args.target = [0.85, 0.9] if args.preset == "realistic" else [0.85, 0.97]
    if args.quick:
        args.seeds, args.target, args.no_refit = min(args.seeds, 3), [0.85], True
    res = {t: {s: [] for s in args.strategies} for t in args.target}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        pb, truth = _pullback(args.frames, args.size, seed, n_calcium=args.n_calcium,
                              n_attenuation=args.n_attenuation, noise=args.noise,
                              preset=args.preset)  # fmt: skip
        frac = truth.class_labels("calcium", 360).any(axis=1).mean()
        if args.verbose:
            print(f"seed {seed}: calcium on {frac:.0%} of the frames", flush=True)
        rng = np.random.default_rng(seed)
        test = np.sort(rng.choice(args.frames, size=args.frames // 3, replace=False))
        start = random_frames(args.frames, args.start, exclude=test, seed=seed)
        base = _new_loop(pb)
        run_steps(base.features_steps())
        for t in args.target:
            for s in args.strategies:
                n, curve, have = run_strategy(s, pb, truth, test, start, args, base, seed, t)
                res[t][s].append(n)
                if args.verbose:
                    print(f"seed {seed} F1 {t} {s}: {curve} frames {have}", flush=True)
    for t in args.target:
        _table(res[t], t, args)
    if not args.no_refit:
        t, n, t_loop, nf = refit_time()
        print(f"SVM refit on {n} A-lines: {t:.2f} s (best of 3; goal < 2 s)")
        print(f"loop train on {nf} annotated frames ({nf * 360} A-lines; 5 held-out folds for "
              f"the learning curve + the final fit, features cached): {t_loop:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
