"""`compressor-edge verify|bench|predict BUNDLE`: exit 0 pass, 1 gate failed, 2 bad input, 3 internal error,
4 verify incomplete (every gate that ran passed, but Square was skipped with --skip-square)."""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import NoReturn

import numpy as np

from compressor_edge.backends import BACKENDS, backends_help, create_backend
from compressor_edge.bundle import FORMATS, MANIFEST_FILE, load_bundle
from compressor_edge.errors import BundleError
from compressor_edge.files import atomic_write_bytes
from compressor_edge.images import load_images
from compressor_edge.latency import measure_interleaved, tile_batch
from compressor_edge.tolerances import VerifyTolerances
from compressor_edge.verify import VerifyOptions, verify_bundle

EXIT_OK, EXIT_GATE_FAILED, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INCOMPLETE = 0, 1, 2, 3, 4


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2): what is wrong, and where the usage is."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see: {self.prog} --help)\n")


def _at_least(low: int, hint: str = "") -> Callable[[str], int]:
    """An integer option that must be >= `low` (counts, budgets, thread numbers); `hint` ends its error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}{hint}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}{hint}")
        return value

    return parse


def _output_file(text: str) -> Path:
    """A file to write at the end: its folder must exist and be writable now, before any work."""
    path = Path(text)
    folder = path.parent
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a folder; give a file name")
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"folder {folder} is not writable")
    return path


def _names(choices: Sequence[str]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        items = [item.strip() for item in text.split(",") if item.strip()]
        bad = [item for item in items if item not in choices]
        if bad or not items:
            close = difflib.get_close_matches(bad[0], choices, n=1) if bad else []
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated subset of {', '.join(choices)}{hint}"
            )
        return items

    return parse


def _ints(text: str) -> list[int]:
    try:
        values = [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("expected comma-separated positive integers") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("expected comma-separated positive integers")
    return values


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="compressor-edge", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("verify", "re-check parity, accuracy, Square robustness, latency and size; gate each"),
        ("bench", "latency of each format and backend"),
        ("predict", "classify images (PNG/JPEG/.npy)"),
    ):
        cmd = sub.add_parser(name, help=text, description=text)
        cmd.add_argument("bundle", type=Path, help="bundle folder (with manifest.json)")
        cmd.add_argument("--engine-cache", type=Path, default=None, help="TensorRT engine cache folder")
        cmd.add_argument("--threads", type=_at_least(1), default=None, help="onnxruntime intra-op threads")
        if name == "predict":
            cmd.add_argument("images", nargs="+", help="PNG/JPEG files (resized to the input) or .npy arrays")
            cmd.add_argument("--format", choices=FORMATS, default="fp32")
            cmd.add_argument("--backend", choices=BACKENDS, default="onnxruntime-cpu", help=backends_help())
            cmd.add_argument("--top-k", type=_at_least(1), default=1)
            continue
        cmd.add_argument("--formats", type=_names(FORMATS), default=None, help="default: all in the bundle")
        cmd.add_argument(
            "--backends",
            type=_names(BACKENDS),
            default=["onnxruntime-cpu"],
            help="comma-separated: " + backends_help(),
        )
        cmd.add_argument("--json", type=_output_file, default=None, help="also write the result as JSON here")
        cmd.add_argument(
            "--batch-sizes", type=_ints, default=[1, 32], help="latency batches (TensorRT profiles)"
        )
        if name == "verify":
            cmd.add_argument(
                "--tolerances", type=Path, default=None, help='JSON: {"int8": {"max_adv_acc_drop": 0.1}}'
            )
            square = cmd.add_mutually_exclusive_group()
            square.add_argument(
                "--square-queries",
                type=_at_least(1, "; to skip Square say --skip-square (the verdict is then never PASS)"),
                default=None,
                help="default: the budget the export recorded",
            )
            square.add_argument(
                "--skip-square",
                action="store_true",
                help="do not run the Square attack; the verdict is then INCOMPLETE (exit 4), never PASS",
            )
            cmd.add_argument(
                "--seed", type=_at_least(0), default=None, help="default: the export's Square seed"
            )
            cmd.add_argument("--latency-runs", type=_at_least(1), default=30)
            cmd.add_argument("--markdown", type=_output_file, default=None, help="also write the table here")
        else:
            cmd.add_argument("--runs", type=_at_least(1), default=100)
            cmd.add_argument("--warmup", type=_at_least(0), default=10)
    return parser


def _tolerances(path: Path | None) -> VerifyTolerances:
    if path is None:
        return VerifyTolerances()
    try:
        return VerifyTolerances.from_dict(json.loads(path.read_text()))
    except (OSError, json.JSONDecodeError, ValueError) as err:
        raise BundleError(f"{path}: {err}") from None


def _verify(args: argparse.Namespace) -> int:
    report = verify_bundle(
        args.bundle,
        _tolerances(args.tolerances),
        formats=args.formats,
        backends=args.backends,
        options=VerifyOptions(
            square_queries=args.square_queries,
            skip_square=args.skip_square,
            seed=args.seed,
            batch_sizes=args.batch_sizes,
            latency_runs=args.latency_runs,
            cache_dir=args.engine_cache,
            threads=args.threads,
        ),
    )
    markdown = report.to_markdown()
    print(markdown, end="")
    if args.markdown:
        atomic_write_bytes(args.markdown, markdown.encode())
    if args.json:
        atomic_write_bytes(args.json, json.dumps(report.to_dict(), indent=2).encode())
    if report.passed:
        return EXIT_OK
    return EXIT_INCOMPLETE if report.gates_passed else EXIT_GATE_FAILED


def _bench(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.bundle)
    images = bundle.probes().clean_images
    rows = []
    with ExitStack() as stack:
        loaded = {
            (fmt, backend_name): stack.enter_context(
                create_backend(
                    backend_name,
                    bundle.model_path(fmt, backend_name),
                    batch_sizes=args.batch_sizes,
                    cache_dir=args.engine_cache,
                    threads=args.threads,
                )
            )
            for backend_name in args.backends
            for fmt in args.formats or bundle.formats
        }
        for batch in args.batch_sizes:  # every format and backend timed round-robin per batch size
            runners = {key: b.run for key, b in loaded.items() if b.max_batch is None or batch <= b.max_batch}
            timed = measure_interleaved(
                runners, tile_batch(images, batch), runs=args.runs, warmup=args.warmup
            )
            for (fmt, backend_name), t in timed.items():
                device = loaded[(fmt, backend_name)].describe()
                rows.append({"format": fmt, "backend": backend_name, "device": device, **vars(t)})
    print("| format | backend | batch | median ms | p90 ms | images/s |\n|---|---|---|---|---|---|")
    for row in rows:
        per_s = 1000.0 * row["batch"] / row["median_ms"]
        print(
            f"| {row['format']} | {row['backend']} | {row['batch']} | {row['median_ms']:.3f} | {row['p90_ms']:.3f} | {per_s:.1f} |"
        )
    if args.json:
        atomic_write_bytes(args.json, json.dumps(rows, indent=2).encode())
    return EXIT_OK


def _predict(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.bundle)
    images, names = load_images(args.images, bundle.image_shape)
    path = bundle.model_path(args.format, args.backend)
    with create_backend(args.backend, path, cache_dir=args.engine_cache, threads=args.threads) as backend:
        logits = backend.predict(images)
    classes = bundle.class_names
    if logits.ndim != 2 or logits.shape[1] != len(classes):
        raise BundleError(
            f"{path}: the model gives logits of shape {list(logits.shape)}, but {bundle.root / MANIFEST_FILE} "
            f"lists {len(classes)} class_names; the bundle is inconsistent (re-export it)"
        )
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = shifted / shifted.sum(axis=1, keepdims=True)
    for name, row in zip(names, probs, strict=True):
        top = np.argsort(-row)[: args.top_k]
        print(name + "\t" + "\t".join(f"{classes[i]}\t{row[i]:.4f}" for i in top))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code instead of raising, and prints errors as one line."""
    args = _parser().parse_args(argv)
    command = {"verify": _verify, "bench": _bench, "predict": _predict}[args.command]
    try:
        return command(args)
    except BundleError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # last resort: one line, never a traceback
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        print(f"internal error: {type(err).__name__}: {first} (please report)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
