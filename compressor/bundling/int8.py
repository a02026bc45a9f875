"""The int8 files of a bundle: the CPU runtimes' U8S8 file (robustness-aware when asked) and TensorRT's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from compressor_edge.bundle import FORMAT_FILES, INT8_TENSORRT_FILE
from compressor_edge.convert import quantize_int8
from compressor_edge.machine import cpu_info, describe_cpu
from compressor_edge.robust_int8 import HeldOut, robust_int8

__all__ = ["HeldOut", "Int8Options", "reduce_range_for", "write_int8"]

from compressor.errors import UserInputError


@dataclass(frozen=True)
class Int8Options:
    """How to quantise: calibration method, 7-bit weights, TensorRT's file, the robust-accuracy gate."""

    method: str = "minmax"
    reduce_range: bool | str = "auto"
    tensorrt: bool = False
    robust: HeldOut | None = None  # held-out images for the robust-accuracy gate
    max_robust_drop: float | None = None
    on_candidate: Callable[[int, int], None] | None = None  # (candidates tried, the most tried)


def reduce_range_for(setting: bool | str) -> tuple[bool, str]:
    """7-bit weights for the CPU file: 'auto' decides from this CPU (no VNNI/AMX: reduce), with the reason."""
    if setting != "auto":
        return bool(setting), "set in the recipe"
    info = cpu_info()
    if not info["flags_known"]:
        return True, "auto: this CPU's ISA flags are unknown, so the saturation-safe 7-bit range is used"
    if info["vnni"]:
        return False, f"auto: the exporting CPU ({info['model']}) has VNNI, so U8S8 cannot saturate"
    return True, f"auto: the exporting CPU ({info['model']}) lacks VNNI, where U8S8 int16 sums can saturate"


def _cpu_file(fp32: Path, dst: Path, pool: np.ndarray, options: Int8Options, reduce: bool) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"target": "cpu", "method": options.method, "reduce_range": reduce}
    if options.robust is None or options.max_robust_drop is None:
        return quantize_int8(fp32, dst, pool, **kwargs)
    return robust_int8(
        fp32,
        dst,
        pool,
        options.robust,
        max_drop=options.max_robust_drop,
        quantize_options=kwargs,
        on_candidate=options.on_candidate,
    )


def write_int8(
    fp32: Path, staging: Path, clean: np.ndarray | None, adversarial: np.ndarray | None, options: Int8Options
) -> dict[str, Any]:
    """Write the int8 files into `staging`; returns the int8 format's manifest metadata."""
    if clean is None:
        raise UserInputError("export: int8 needs calibration_images (training images in [0, 1])")
    pool = clean if adversarial is None else np.concatenate([clean, adversarial])
    reduce, reason = reduce_range_for(options.reduce_range)
    n_adv = 0 if adversarial is None else len(adversarial)
    counts = {"clean_calibration_images": len(clean), "adversarial_calibration_images": n_adv}
    try:
        cpu = _cpu_file(fp32, staging / FORMAT_FILES["int8"], pool, options, reduce)
        cpu.update(reduce_range_reason=reason, exporting_cpu=describe_cpu())
        settings = [("cpu", FORMAT_FILES["int8"], cpu)]
        if options.tensorrt:
            trt = quantize_int8(
                fp32,
                staging / INT8_TENSORRT_FILE,
                pool,
                target="tensorrt",
                method=options.method,
                nodes_to_exclude=cpu["float_nodes"],
            )
            settings.append(("tensorrt", INT8_TENSORRT_FILE, trt))
    except ValueError as err:
        raise UserInputError(f"export: {err}") from None
    main, *alternates = [
        {
            "file": name,
            "runtimes": quant["runtimes"],
            "precision": f"int8 QDQ for {target}, float32 inputs and outputs",
            "quantization": {**quant, **counts},
        }
        for target, name, quant in settings
    ]
    return {**main, "alternates": alternates} if alternates else main
