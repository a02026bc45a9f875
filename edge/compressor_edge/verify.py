"""verify_bundle: re-check an exported bundle on the runtime that will serve it, against gated tolerances."""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from compressor_edge.backends import BACKENDS, Backend, backend_spec, create_backend
from compressor_edge.backends.registry import env_threads
from compressor_edge.bundle import FORMATS, Bundle, Probes, load_bundle
from compressor_edge.errors import BackendUnavailable, BundleError
from compressor_edge.latency import measure_interleaved, tile_batch
from compressor_edge.machine import cpu_info, describe_cpu
from compressor_edge.square import SquarePlan, square_attack_linf
from compressor_edge.tolerances import FormatTolerances, VerifyTolerances
from compressor_edge.verify_report import FormatResult, VerifyReport


def _accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(axis=1) == labels).mean())


@dataclass(frozen=True)
class _References:
    """What a row is judged against: PyTorch's probe accuracies, the fp32 file's Square accuracy on the
    same backend (None for the fp32 row itself), PyTorch's Square accuracy on the same points and how many
    points Square attacked."""

    pt_clean: float
    pt_adv: float
    fp32_square: float | None
    pt_square: float | None
    square_points: int = 0


Gate = tuple[bool, str]  # passed, and the line that says why not


def _gate_failures(r: FormatResult, tol: FormatTolerances, ref: _References) -> list[str]:
    """One line per failed gate, stating the measured value, the bound and the formula."""
    if None in (r.max_abs_logit_diff, r.rel_logit_diff, r.top1_agreement, r.clean_acc, r.adv_probe_acc):
        raise ValueError("gates need a row whose parity and accuracies were measured")
    gates = [*_parity_gates(r, tol), *_accuracy_gates(r, tol, ref), *_square_gates(r, tol, ref)]
    gates += _budget_gates(r, tol)
    return [message for ok, message in gates if not ok]


def _parity_gates(r: FormatResult, tol: FormatTolerances) -> list[Gate]:
    """Logits against PyTorch's: absolute and relative difference, top-1 agreement."""
    diff, rel, agree = (
        float(r.max_abs_logit_diff or 0),
        float(r.rel_logit_diff or 0),
        float(r.top1_agreement or 0),
    )
    gates: list[Gate] = []
    if tol.max_abs_logit_diff is not None:
        message = f"max |dlogit| {diff:.3g} > max_abs_logit_diff {tol.max_abs_logit_diff:g}"
        gates.append((diff <= tol.max_abs_logit_diff, message))
    if tol.max_rel_logit_diff is not None:
        message = f"max |dlogit| / logit scale {rel:.3g} > max_rel_logit_diff {tol.max_rel_logit_diff:g}"
        gates.append((rel <= tol.max_rel_logit_diff, message))
    message = f"top-1 agreement {agree:.3f} < min_top1_agreement {tol.min_top1_agreement:g}"
    return [*gates, (agree >= tol.min_top1_agreement, message)]


def _accuracy_gates(r: FormatResult, tol: FormatTolerances, ref: _References) -> list[Gate]:
    """Clean and adversarial-probe accuracy drops against PyTorch's."""
    clean, adv = float(r.clean_acc or 0), float(r.adv_probe_acc or 0)
    return [
        (
            ref.pt_clean - clean <= tol.max_clean_acc_drop,
            f"clean acc drop {ref.pt_clean - clean:.3f} (pytorch {ref.pt_clean:.3f} -> {clean:.3f}) "
            f"> max_clean_acc_drop {tol.max_clean_acc_drop:g}",
        ),
        (
            ref.pt_adv - adv <= tol.max_adv_acc_drop,
            f"adv-probe acc drop {ref.pt_adv - adv:.3f} (pytorch {ref.pt_adv:.3f} -> {adv:.3f}) "
            f"> max_adv_acc_drop {tol.max_adv_acc_drop:g}",
        ),
    ]


def square_drop_bound(bound: float, points: int) -> float:
    """The allowed Square accuracy drop on `points` points: `bound` rounded up to whole points.

    Square's accuracy moves in steps of 1 / points (12 points: 0.083), so a bound below one step would fail
    a file for the first point that falls (int8 noise flips a near-boundary point now and then) while a file
    that lost its robustness loses many; the bound is judged at the resolution the sample has.
    """
    if points <= 0 or bound < 0:
        return bound
    return math.ceil(round(bound * points, 9)) / points


def _square_gates(r: FormatResult, tol: FormatTolerances, ref: _References) -> list[Gate]:
    """Square accuracy against the fp32 file's and PyTorch's on the same points, and its floor."""
    acc = r.square_acc
    if acc is None:
        return []
    bound = square_drop_bound(tol.max_square_acc_drop, ref.square_points)
    named = f"max_square_acc_drop {tol.max_square_acc_drop:g}"
    if bound != tol.max_square_acc_drop:
        named += f", {bound:.3f} in whole points of {ref.square_points}"
    gates: list[Gate] = []
    if ref.fp32_square is not None:
        drop = ref.fp32_square - acc
        gates.append((drop <= bound + 1e-9, f"Square acc drop vs fp32 {drop:.3f} > {named}"))
    if ref.pt_square is not None:
        drop = ref.pt_square - acc
        message = (
            f"Square acc drop vs PyTorch on the same points {drop:.3f} (pytorch {ref.pt_square:.3f} -> "
            f"{acc:.3f}) > {named}"
        )
        gates.append((drop <= bound + 1e-9, message))
    if tol.min_square_acc is not None:
        gates.append(
            (acc >= tol.min_square_acc, f"Square acc {acc:.3f} < min_square_acc {tol.min_square_acc:g}")
        )
    return gates


def _budget_gates(r: FormatResult, tol: FormatTolerances) -> list[Gate]:
    """The deployment budget: batch-1 latency and file size, where the tolerances set one."""
    gates: list[Gate] = []
    if tol.max_latency_ms is not None and 1 in r.latency:
        median = r.latency[1].median_ms
        message = f"batch-1 latency {median:.2f} ms > max_latency_ms {tol.max_latency_ms:g}"
        gates.append((median <= tol.max_latency_ms, message))
    if tol.max_size_mb is not None:
        size = r.size_bytes / 2**20
        gates.append((size <= tol.max_size_mb, f"size {size:.2f} MiB > max_size_mb {tol.max_size_mb:g}"))
    return gates


def _error_line(err: Exception) -> str:
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0] if lines else 'no message'}"


def _load_and_check(
    stack: ExitStack,
    bundle: Bundle,
    probes: Probes,
    fmt: str,
    backend_name: str,
    *,
    square: SquarePlan,
    batch_sizes: Sequence[int],
    cache_dir: Path | None,
    threads: int | None,
) -> tuple[FormatResult, Backend | None]:
    """Load one format on one backend (kept open in `stack` for timing) and measure all but latency."""
    if fmt not in backend_spec(backend_name).formats:
        error = f"{backend_name} does not run {fmt} models (it runs {', '.join(backend_spec(backend_name).formats)})"
        return FormatResult(format=fmt, backend=backend_name, error=error), None
    try:
        path = bundle.model_path(fmt, backend_name)
    except BundleError as err:  # no file of this format for this runtime: a failed row, not bad input
        return FormatResult(format=fmt, backend=backend_name, error=str(err)), None
    result = FormatResult(format=fmt, backend=backend_name, file=path.name, size_bytes=path.stat().st_size)
    quantization = bundle.model_entry(fmt, backend_name).get("quantization", {})
    result.float_layers = list(quantization.get("float_nodes", []))
    result.robust_int8 = quantization.get("robustness_aware")
    try:
        backend = create_backend(
            backend_name, path, batch_sizes=batch_sizes, cache_dir=cache_dir, threads=threads
        )
    except BackendUnavailable:
        raise
    except BundleError as err:
        result.error = str(err)
        return result, None
    stack.enter_context(backend)
    result.device = backend.describe()
    try:
        _run_checks(result, backend, bundle, probes, square, max(batch_sizes))
    except Exception as err:  # a runtime failure on one format is a failed row, not a crash
        result.error = _error_line(err)
        backend.close()
        return result, None
    return result, backend


def _run_checks(
    result: FormatResult, backend: Backend, bundle: Bundle, probes: Probes, square: SquarePlan, chunk: int
) -> None:
    """Parity, accuracies and the Square attack of one loaded backend, into `result`."""
    clean = backend.predict(probes.clean_images, chunk)
    adv = backend.predict(probes.adversarial_images, chunk)
    if not (np.isfinite(clean).all() and np.isfinite(adv).all()):
        raise FloatingPointError("runtime returned non-finite logits")
    reference = np.concatenate([probes.clean_logits, probes.adversarial_logits])
    runtime = np.concatenate([clean, adv])
    result.max_abs_logit_diff = float(np.abs(runtime - reference).max())
    scale = float(np.ptp(reference, axis=1).mean())
    result.rel_logit_diff = result.max_abs_logit_diff / scale if scale > 0 else float("inf")
    result.top1_agreement = float((runtime.argmax(1) == reference.argmax(1)).mean())
    result.clean_acc = _accuracy(clean, probes.labels)
    result.adv_probe_acc = _accuracy(adv, probes.labels)
    if bundle.norm == "linf" and square.queries > 0:
        points = slice(None) if square.indices is None else square.indices
        start = time.perf_counter()
        attack = square_attack_linf(
            lambda x: backend.predict(x, chunk),
            probes.clean_images[points],
            probes.labels[points],
            eps=bundle.eps,
            n_queries=square.queries,
            seed=square.seed,
        )
        result.square_acc = attack.robust_accuracy
        result.square_mean_queries = float(attack.queries.mean())
        result.square_seconds = round(time.perf_counter() - start, 2)


def _time_rows(
    rows: Sequence[tuple[FormatResult, Backend]], images: np.ndarray, batch_sizes: Sequence[int], runs: int
) -> None:
    """Latency of every loaded row at each batch size, all rows interleaved round-robin in one timing loop
    (same threads, warm-up and median), so load from other processes cannot decide which format is faster."""
    for batch in sorted(set(batch_sizes)):
        tiled = tile_batch(images, batch)
        runners = {}
        for i, (result, backend) in enumerate(rows):
            if result.error is not None or (backend.max_batch is not None and batch > backend.max_batch):
                continue
            try:
                backend.run(tiled)  # one call alone first: a runtime failure here is a failed row
            except Exception as err:
                result.error = _error_line(err)
                continue
            runners[i] = backend.run
        timed = measure_interleaved(runners, tiled, runs=runs, warmup=max(2, runs // 10))
        for i, latency in timed.items():
            rows[i][0].latency[batch] = latency


@dataclass(frozen=True, kw_only=True)
class VerifyOptions:
    """How verify_bundle measures: the Square budget, the latency loop and the runtimes' settings.

    Square runs the attack the export recorded (its points, budget and seed, with PyTorch's accuracy to
    compare) unless `square_queries` or `seed` differ from it; then it attacks every probe with them and
    compares with fp32 only. `skip_square` runs no Square attack: the report is then at best INCOMPLETE.
    Latency is measured at each of `batch_sizes` (TensorRT builds one optimisation profile per size),
    `latency_runs` times. A bundle whose PyTorch reference is itself at chance on the probes fails unless
    `allow_chance_reference` (smoke runs).
    """

    square_queries: int | None = None  # None: the budget the export recorded
    skip_square: bool = False
    seed: int | None = None  # None: the export's Square seed
    batch_sizes: Sequence[int] = (1, 32)
    latency_runs: int = 30
    cache_dir: str | Path | None = None  # TensorRT's engine cache
    threads: int | None = None
    allow_chance_reference: bool = False


def _rows(bundle: Bundle, formats: Sequence[str] | None, backends: Sequence[str]) -> list[tuple[str, str]]:
    """(backend, format) pairs, fp32 first (the Square reference of the others): every format asked for on
    every backend; by default, the bundle's formats each backend runs."""
    chosen = list(formats or bundle.formats)
    for fmt in chosen:
        bundle.model_path(fmt)
    chosen.sort(key=FORMATS.index)
    return [
        (backend_name, fmt)
        for backend_name in backends
        for fmt in chosen
        if formats is not None or fmt in backend_spec(backend_name).formats
    ]


def _gate_rows(results: list[FormatResult], tolerances: VerifyTolerances, references: _References) -> None:
    """Each measured row's failures against its format's tolerances; Square against fp32 on its backend."""
    fp32_square = {r.backend: r.square_acc for r in results if r.format == "fp32" and r.error is None}
    for r in results:
        if r.error is None:
            reference = None if r.format == "fp32" else fp32_square.get(r.backend)
            tol = tolerances.for_format(backend_spec(r.backend).tolerances_name(r.format))
            r.failures = _gate_failures(r, tol, replace(references, fp32_square=reference))


def verify_bundle(
    bundle_dir: str | Path,
    tolerances: VerifyTolerances | None = None,
    formats: Sequence[str] | None = None,
    backends: Sequence[str] = ("onnxruntime-cpu",),
    *,
    options: VerifyOptions = VerifyOptions(),
    on_row: Callable[[int, int], None] | None = None,
) -> VerifyReport:
    """Measure every format on every backend against the bundle's PyTorch probes and gate each row.

    Raises BundleError (bad input) for a missing, corrupt or tampered bundle or an unavailable backend;
    a failed gate is not an exception: it shows in the report (`passed` is False). `options` (VerifyOptions)
    set the Square attack, the latency loop and the runtimes; latency is measured after every check, with
    every row loaded and timed round-robin in one loop.
    `on_row(i, n)` hears when row i of n (format x backend) has been checked, before the latency loop.
    """
    tolerances = tolerances or VerifyTolerances()
    unknown = [name for name in backends if name not in BACKENDS]
    if unknown or not backends:
        raise BundleError(f"unknown backend(s) {unknown} (expected one or more of: {', '.join(BACKENDS)})")
    _check_options(options)
    bundle = load_bundle(bundle_dir)
    probes = bundle.probes()
    if options.skip_square:
        square = SquarePlan(queries=0, seed=0 if options.seed is None else options.seed)
    else:
        square = SquarePlan.for_bundle(bundle.manifest.get("square"), options.square_queries, options.seed)
    results = _check_rows(bundle, probes, _rows(bundle, formats, backends), square, options, on_row)
    pt_clean = _accuracy(probes.clean_logits, probes.labels)
    pt_adv = _accuracy(probes.adversarial_logits, probes.labels)
    square_points = len(probes) if square.indices is None else len(square.indices)
    references = _References(pt_clean, pt_adv, None, square.pytorch_acc, square_points)
    _gate_rows(results, tolerances, references)
    return VerifyReport(
        bundle=str(bundle.root),
        eps=bundle.eps,
        norm=bundle.norm,
        n_probes=len(probes),
        pytorch_clean_acc=pt_clean,
        pytorch_adv_acc=pt_adv,
        square_queries=square.queries if bundle.norm == "linf" else 0,
        seed=square.seed,
        square_points=square_points,
        pytorch_square_acc=square.pytorch_acc,
        tolerances=tolerances,
        results=results,
        n_classes=len(bundle.class_names),
        allow_chance_reference=options.allow_chance_reference,
        environment=_environment(),
        latency_runs=options.latency_runs,
        threads=options.threads or env_threads(),  # what the runtimes were given ($OMP_NUM_THREADS too)
        square_skipped=options.skip_square and bundle.norm == "linf",
    )


def _check_rows(
    bundle: Bundle,
    probes: Probes,
    rows: list[tuple[str, str]],
    square: SquarePlan,
    options: VerifyOptions,
    on_row: Callable[[int, int], None] | None,
) -> list[FormatResult]:
    """Each (backend, format) row loaded and checked, then every loaded row timed round-robin."""
    results: list[FormatResult] = []
    with ExitStack() as stack:
        loaded: list[tuple[FormatResult, Backend]] = []
        for backend_name, fmt in rows:
            result, backend = _load_and_check(
                stack,
                bundle,
                probes,
                fmt,
                backend_name,
                square=square,
                batch_sizes=options.batch_sizes,
                cache_dir=None if options.cache_dir is None else Path(options.cache_dir),
                threads=options.threads,
            )
            results.append(result)
            if backend is not None:
                loaded.append((result, backend))
            if on_row is not None:
                on_row(len(results), len(rows))
        _time_rows(loaded, probes.clean_images, options.batch_sizes, options.latency_runs)
    return results


def _check_options(options: VerifyOptions) -> None:
    """Budgets and counts are positive; skipping Square is said with skip_square, never with a 0 budget."""
    if not options.batch_sizes or min(options.batch_sizes) < 1:
        raise BundleError(f"batch sizes must be positive integers, got {list(options.batch_sizes)}")
    if options.square_queries is not None and options.skip_square:
        raise BundleError("give either square_queries or skip_square, not both")
    if options.square_queries is not None and options.square_queries < 1:
        raise BundleError(
            f"square_queries must be >= 1, got {options.square_queries}; to skip the Square attack say so "
            "(--skip-square, verify.skip_square): the verdict is then INCOMPLETE, never PASS"
        )
    if options.seed is not None and options.seed < 0:
        raise BundleError(f"seed must be >= 0, got {options.seed}")
    if options.latency_runs < 1:
        raise BundleError(f"latency_runs must be >= 1, got {options.latency_runs}")


def _environment() -> dict[str, Any]:
    import onnxruntime

    from compressor_edge._version import __version__

    try:
        from importlib.metadata import version

        openvino = version("openvino")
    except Exception:  # PackageNotFoundError, or a broken install: say it is not there
        openvino = "not installed"
    return {
        "compressor_edge": __version__,
        "onnxruntime": onnxruntime.__version__,
        "openvino": openvino,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.system()} {describe_cpu()}",
        "cpu": cpu_info(),
    }
