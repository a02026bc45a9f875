"""The `compressor` command line. Thin: every command parses arguments and calls the library."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from compressor_edge.backends import BACKENDS

from compressor.cli.errors import one_line_errors
from compressor.cli.recipes import complete_recipe

app = typer.Typer(
    name="compressor",
    help="Distil small, adversarially robust students from timm / CLIP teachers and ship them to the edge.\n\n"
    "Exit codes: 0 success, 1 a check or gate failed, 2 bad input, 3 runtime failure.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print warnings and errors only (no progress, no tables).")
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Print every progress update, also in logs (default there: a line per step and every 30 s).",
        ),
    ] = False,
) -> None:
    """Global options, given before the command: `compressor -q distill quickstart`."""
    from compressor.console import set_verbosity

    if quiet and verbose:
        raise typer.BadParameter("--quiet and --verbose contradict each other; give one")
    set_verbosity(-1 if quiet else 1 if verbose else 0)


RecipeArg = Annotated[
    str,
    typer.Argument(
        help="Recipe YAML path, or the name of a shipped recipe (see `compressor recipes`).",
        autocompletion=complete_recipe,
    ),
]
OverridesArg = Annotated[
    list[str] | None,
    typer.Argument(help="Overrides KEY=VALUE with dotted keys, e.g. train.epochs=5 data.root=/data."),
]

AllowPluginsOpt = Annotated[
    str | None,
    typer.Option(
        help="Comma-separated modules the recipe's `plugins:` may import (your consent: a recipe or run "
        "directory never runs code by itself; also COMPRESSOR_ALLOW_PLUGINS)."
    ),
]


@app.command()
@one_line_errors
def validate(
    recipe: RecipeArg, overrides: OverridesArg = None, allow_plugins: AllowPluginsOpt = None
) -> None:
    """Check a recipe (schema, model and method names, files) without running anything; say what the data holds."""
    from compressor.cli.recipes import resolve_recipe
    from compressor.config.plugins import split_names
    from compressor.console import make_console
    from compressor.recipe_checks import data_findings
    from compressor.recipe_loading import validate_recipe

    path = resolve_recipe(recipe)
    loaded, warnings = validate_recipe(path, overrides or [], allow_plugins=split_names(allow_plugins))
    _warn(warnings)
    console = make_console()
    for line in data_findings(loaded.data):
        console.print(f"data: {line}", markup=False, highlight=False, soft_wrap=True)
    console.print(f"ok: {path} is a valid recipe", markup=False, highlight=False, soft_wrap=True)


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)


@app.command()
@one_line_errors
def recipes() -> None:
    """List the recipes shipped with the toolkit, one line each (run one by name: `compressor distill quickstart`)."""
    import shutil

    from compressor.cli.recipes import recipe_lines

    for line in recipe_lines(max(60, shutil.get_terminal_size((120, 24)).columns)):
        typer.echo(line)


def _under_torchrun(rendezvous: list[str], arguments: list[str]) -> int:
    """Run this CLI again with `arguments` under torchrun (one process per GPU), and its exit code."""
    launcher = [sys.executable, "-m", "torch.distributed.run", *rendezvous]
    return subprocess.call([*launcher, "-m", "compressor.cli.main", *arguments])


@app.command()
@one_line_errors
def distill(
    recipe: RecipeArg,
    overrides: OverridesArg = None,
    stages: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated stages to run, e.g. evaluate,export (a registered stage by its name; a wrong "
            "name lists them all)."
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue an interrupted training stage from its last checkpoint.")
    ] = False,
    force: Annotated[
        bool, typer.Option(help="Re-run the selected stages even if their outputs are up to date.")
    ] = False,
    smoke: Annotated[
        bool,
        typer.Option(
            help="Check the recipe's wiring in seconds: same pipeline, a few images (an ImageFolder's own, else synthetic), small models, PGD-20 and onnxruntime only, in runs/<name>-smoke."
        ),
    ] = False,
    nproc_per_node: Annotated[
        int, typer.Option(help="Processes (GPUs) per node; >1 relaunches under torchrun (DDP).")
    ] = 1,
    nnodes: Annotated[int, typer.Option(help="Number of nodes for multi-node DDP (torchrun --nnodes).")] = 1,
    node_rank: Annotated[
        int, typer.Option(help="This node's rank for multi-node DDP (torchrun --node-rank).")
    ] = 0,
    master_addr: Annotated[str, typer.Option(help="Rendezvous address for multi-node DDP.")] = "127.0.0.1",
    master_port: Annotated[int, typer.Option(help="Rendezvous port for multi-node DDP.")] = 29500,
    allow_plugins: AllowPluginsOpt = None,
) -> None:
    """Run a recipe through every stage that applies to it (teachers -> distill -> evaluate -> export -> verify
    -> report, and any stage registered beside them), in runs/<name>/."""
    from compressor.cli.recipes import resolve_recipe
    from compressor.config.plugins import split_names
    from compressor.pipeline.run import parse_stages
    from compressor.recipe_loading import validate_recipe

    path = resolve_recipe(recipe)
    # Every check before any compute; smoke mode swaps the data and runtimes, so theirs stay warnings.
    loaded, warnings = validate_recipe(
        path, overrides or [], on_this_machine=not smoke, allow_plugins=split_names(allow_plugins)
    )
    _warn(warnings)
    if smoke:
        from compressor.pipeline.smoke import smoke_recipe

        loaded = smoke_recipe(loaded)
    selected = parse_stages(stages)
    if nproc_per_node * nnodes > 1 and "WORLD_SIZE" not in os.environ:
        flags = [
            *(["--stages", stages] if stages else []),
            *(["--resume"] if resume else []),
            *(["--force"] if force else []),
            *(["--smoke"] if smoke else []),
            *(["--allow-plugins", allow_plugins] if allow_plugins else []),
        ]
        rendezvous = [
            f"--nproc-per-node={nproc_per_node}",
            f"--nnodes={nnodes}",
            f"--node-rank={node_rank}",
            f"--master-addr={master_addr}",
            f"--master-port={master_port}",
        ]
        raise SystemExit(_under_torchrun(rendezvous, ["distill", str(path), *(overrides or []), *flags]))
    from compressor.pipeline.run import run_pipeline

    run_pipeline(loaded, stages=selected, resume=resume, force=force)


@app.command()
@one_line_errors
def evaluate(
    target: Annotated[
        str, typer.Argument(help="A run directory, a recipe (its student), or a weights file with --recipe.")
    ],
    recipe: Annotated[
        str | None, typer.Option(help="Recipe giving the model and data when TARGET is a weights file.")
    ] = None,
    attacks: Annotated[
        str | None, typer.Option(help="Comma-separated attacks, e.g. pgd20,autoattack.")
    ] = None,
    eps: Annotated[str | None, typer.Option(help="Radius, e.g. 8/255 (default: the recipe's).")] = None,
    norm: Annotated[str | None, typer.Option(help="linf or l2 (default: the recipe's).")] = None,
    n: Annotated[int | None, typer.Option("--n", help="Number of test images.")] = None,
    eps_curve: Annotated[
        str | None, typer.Option(help="Comma-separated radii for a robust-accuracy-vs-eps plot.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default: RUN_DIR/evaluate or ./evaluation).")
    ] = None,
    allow_plugins: AllowPluginsOpt = None,
) -> None:
    """Measure clean and robust accuracy (up to AutoAttack) with sanity checks against gradient masking."""
    from compressor.cli.evaluate import evaluate_command
    from compressor.config.plugins import split_names

    code = evaluate_command(
        target,
        recipe=recipe,
        attacks=attacks,
        eps=eps,
        norm=norm,
        n=n,
        eps_curve=eps_curve,
        out=out,
        allow_plugins=split_names(allow_plugins),
    )
    raise typer.Exit(code)


@app.command()
@one_line_errors
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run directory whose distill stage finished.")],
    overrides: OverridesArg = None,
    allow_plugins: AllowPluginsOpt = None,
) -> None:
    """Export the run's student to the edge bundle (ONNX fp32/fp16/int8 + manifest + probes)."""
    from compressor.cli.run_commands import run_stage_on
    from compressor.config.plugins import split_names

    run_stage_on(run_dir, "export", overrides or [], split_names(allow_plugins))


@app.command()
@one_line_errors
def verify(
    target: Annotated[Path, typer.Argument(help="A run directory or an export bundle folder.")],
    backends: Annotated[
        str | None,
        typer.Option(help=f"Comma-separated backends: {', '.join(BACKENDS)}."),
    ] = None,
    allow_plugins: AllowPluginsOpt = None,
) -> None:
    """Re-check an exported bundle on the runtimes: parity, accuracy, Square attack, latency (exit 1 if a gate fails)."""
    from compressor.cli.run_commands import verify_target
    from compressor.config.plugins import split_names

    raise typer.Exit(verify_target(target, backends, split_names(allow_plugins)))


if __name__ == "__main__":
    app()
