"""verify_bundle: re-check an exported bundle on the runtime that will serve it, against gated tolerances."""

from __future__ import annotations

import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from compressor_edge.backends import BACKENDS, Backend, create_backend
from compressor_edge.bundle import FORMATS, Bundle, Probes, load_bundle
from compressor_edge.errors import BackendUnavailable, BundleError
from compressor_edge.latency import measure, tile_batch
from compressor_edge.machine import cpu_info, describe_cpu
from compressor_edge.report import FormatResult, VerifyReport
from compressor_edge.square import SquarePlan, square_attack_linf
from compressor_edge.tolerances import FormatTolerances, VerifyTolerances


def _accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(axis=1) == labels).mean())


def _gate_failures(
    r: FormatResult,
    tol: FormatTolerances,
    pt_clean: float,
    pt_adv: float,
    fp32_square: float | None,
    pt_square: float | None,
) -> list[str]:
    """One line per failed gate, stating the measured value, the bound and the formula."""
    diff, agree, clean, adv = r.max_abs_logit_diff, r.top1_agreement, r.clean_acc, r.adv_probe_acc
    rel = r.rel_logit_diff
    if diff is None or rel is None or agree is None or clean is None or adv is None:
        raise ValueError("gates need a row whose parity and accuracies were measured")
    checks: list[tuple[bool, str]] = []
    if tol.max_abs_logit_diff is not None:
        checks.append(
            (
                diff <= tol.max_abs_logit_diff,
                f"max |dlogit| {diff:.3g} > max_abs_logit_diff {tol.max_abs_logit_diff:g}",
            )
        )
    if tol.max_rel_logit_diff is not None:
        checks.append(
            (
                rel <= tol.max_rel_logit_diff,
                f"max |dlogit| / logit scale {rel:.3g} > max_rel_logit_diff {tol.max_rel_logit_diff:g}",
            )
        )
    checks += [
        (
            agree >= tol.min_top1_agreement,
            f"top-1 agreement {agree:.3f} < min_top1_agreement {tol.min_top1_agreement:g}",
        ),
        (
            pt_clean - clean <= tol.max_clean_acc_drop,
            f"clean acc drop {pt_clean - clean:.3f} (pytorch {pt_clean:.3f} -> {clean:.3f}) "
            f"> max_clean_acc_drop {tol.max_clean_acc_drop:g}",
        ),
        (
            pt_adv - adv <= tol.max_adv_acc_drop,
            f"adv-probe acc drop {pt_adv - adv:.3f} (pytorch {pt_adv:.3f} -> {adv:.3f}) "
            f"> max_adv_acc_drop {tol.max_adv_acc_drop:g}",
        ),
    ]
    if r.square_acc is not None and fp32_square is not None:
        drop = fp32_square - r.square_acc
        checks.append(
            (
                drop <= tol.max_square_acc_drop,
                f"Square acc drop vs fp32 {drop:.3f} > max_square_acc_drop {tol.max_square_acc_drop:g}",
            )
        )
    if r.square_acc is not None and pt_square is not None:
        drop = pt_square - r.square_acc
        checks.append(
            (
                drop <= tol.max_square_acc_drop,
                f"Square acc drop vs PyTorch on the same points {drop:.3f} (pytorch {pt_square:.3f} -> "
                f"{r.square_acc:.3f}) > max_square_acc_drop {tol.max_square_acc_drop:g}",
            )
        )
    if r.square_acc is not None and tol.min_square_acc is not None:
        checks.append(
            (
                r.square_acc >= tol.min_square_acc,
                f"Square acc {r.square_acc:.3f} < min_square_acc {tol.min_square_acc:g}",
            )
        )
    if tol.max_latency_ms is not None and 1 in r.latency:
        median = r.latency[1].median_ms
        checks.append(
            (
                median <= tol.max_latency_ms,
                f"batch-1 latency {median:.2f} ms > max_latency_ms {tol.max_latency_ms:g}",
            )
        )
    if tol.max_size_mb is not None:
        size = r.size_bytes / 2**20
        checks.append((size <= tol.max_size_mb, f"size {size:.2f} MiB > max_size_mb {tol.max_size_mb:g}"))
    return [message for ok, message in checks if not ok]


def _measure_format(
    bundle: Bundle,
    probes: Probes,
    fmt: str,
    backend_name: str,
    *,
    square: SquarePlan,
    batch_sizes: Sequence[int],
    latency_runs: int,
    cache_dir: Path | None,
    threads: int | None,
) -> FormatResult:
    """Run one format on one backend and fill in every measurement (no gating)."""
    try:
        path = bundle.model_path(fmt, backend_name)
    except BundleError as err:  # no file of this format for this runtime: a failed row, not bad input
        return FormatResult(format=fmt, backend=backend_name, error=str(err))
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
        return result
    with backend:
        result.device = backend.describe()
        try:
            _run_checks(result, backend, bundle, probes, square, batch_sizes, latency_runs)
        except Exception as err:  # a runtime failure on one format is a failed row, not a crash
            lines = str(err).strip().splitlines()
            result.error = f"{type(err).__name__}: {lines[0] if lines else 'no message'}"
    return result


def _run_checks(
    result: FormatResult,
    backend: Backend,
    bundle: Bundle,
    probes: Probes,
    square: SquarePlan,
    batch_sizes: Sequence[int],
    latency_runs: int,
) -> None:
    """Parity, accuracies, the Square attack and latency of one loaded backend, into `result`."""
    chunk = max(batch_sizes)
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
    for batch in sorted(b for b in set(batch_sizes) if backend.max_batch is None or b <= backend.max_batch):
        images = tile_batch(probes.clean_images, batch)
        result.latency[batch] = measure(
            backend.run, images, runs=latency_runs, warmup=max(2, latency_runs // 10)
        )


def verify_bundle(
    bundle_dir: str | Path,
    tolerances: VerifyTolerances | None = None,
    formats: Sequence[str] | None = None,
    backends: Sequence[str] = ("onnxruntime-cpu",),
    *,
    square_queries: int | None = None,
    seed: int | None = None,
    batch_sizes: Sequence[int] = (1, 32),
    latency_runs: int = 30,
    cache_dir: str | Path | None = None,
    threads: int | None = None,
    allow_chance_reference: bool = False,
) -> VerifyReport:
    """Measure every format on every backend against the bundle's PyTorch probes and gate each row.

    Raises BundleError (bad input) for a missing, corrupt or tampered bundle or an unavailable backend;
    a failed gate is not an exception: it shows in the report (`passed` is False). A bundle whose PyTorch
    reference is itself at chance on the probes fails unless `allow_chance_reference` (smoke runs). Latency is measured at
    each of `batch_sizes` (TensorRT builds one optimisation profile per size). Square runs the attack the
    export recorded (its points, budget and seed, with PyTorch's accuracy to compare) unless `square_queries`
    or `seed` differ from it; then it attacks every probe with them and compares with fp32 only.
    """
    tolerances = tolerances or VerifyTolerances()
    unknown = [name for name in backends if name not in BACKENDS]
    if unknown or not backends:
        raise BundleError(f"unknown backend(s) {unknown} (expected one or more of: {', '.join(BACKENDS)})")
    if not batch_sizes or min(batch_sizes) < 1:
        raise BundleError(f"batch sizes must be positive integers, got {list(batch_sizes)}")
    bundle = load_bundle(bundle_dir)
    probes = bundle.probes()
    chosen = list(formats or bundle.formats)
    for fmt in chosen:
        bundle.model_path(fmt)
    chosen.sort(key=FORMATS.index)  # fp32 first: it is the Square reference for the others
    pt_clean = _accuracy(probes.clean_logits, probes.labels)
    pt_adv = _accuracy(probes.adversarial_logits, probes.labels)
    square = SquarePlan.for_bundle(bundle.manifest.get("square"), square_queries, seed)
    results = []
    for backend_name in backends:
        fp32_square: float | None = None
        for fmt in chosen:
            r = _measure_format(
                bundle,
                probes,
                fmt,
                backend_name,
                square=square,
                batch_sizes=batch_sizes,
                latency_runs=latency_runs,
                cache_dir=None if cache_dir is None else Path(cache_dir),
                threads=threads,
            )
            if r.error is None:
                r.failures = _gate_failures(
                    r, tolerances.for_format(fmt), pt_clean, pt_adv, fp32_square, square.pytorch_acc
                )
                if fmt == "fp32":
                    fp32_square = r.square_acc
            results.append(r)
    return VerifyReport(
        bundle=str(bundle.root),
        eps=bundle.eps,
        norm=bundle.norm,
        n_probes=len(probes),
        pytorch_clean_acc=pt_clean,
        pytorch_adv_acc=pt_adv,
        square_queries=square.queries if bundle.norm == "linf" else 0,
        seed=square.seed,
        square_points=len(probes) if square.indices is None else len(square.indices),
        pytorch_square_acc=square.pytorch_acc,
        tolerances=tolerances,
        results=results,
        n_classes=len(bundle.class_names),
        allow_chance_reference=allow_chance_reference,
        environment=_environment(),
    )


def _environment() -> dict[str, Any]:
    import onnxruntime

    from compressor_edge import __version__

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
