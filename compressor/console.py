"""What a user sees while a run works: how much (-q / -v) and the one progress display every long step uses.

On a terminal a `ProgressDisplay` is rich's live bar. Anywhere else (a pipe, a log file, CI) a live bar
would be carriage-return spam, so it prints one plain line per step instead: when a task ends and, for long
tasks, every `interval` seconds (every update with -v), so a log shows an hours-long AutoAttack moving.
It is the only display; `compressor.methods.base.TrainingPosition` is where training is (epoch, step), for methods.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from rich import progress as rich_progress
from rich.console import Console

LOGGER = "compressor"
HEARTBEAT_SECONDS = 30.0


def set_verbosity(level: int) -> None:
    """-1 quiet (warnings and errors only), 0 normal, 1 verbose (every progress update, debug log messages).

    Kept as the level of the "compressor" logger, which is process-wide by nature, like the CLI flags."""
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger(LOGGER).setLevel(
        logging.WARNING if level < 0 else logging.INFO if level == 0 else logging.DEBUG
    )


def quiet() -> bool:
    """Whether -q asked for warnings and errors only."""
    return logging.getLogger(LOGGER).level >= logging.WARNING


def verbose() -> bool:
    """Whether -v asked for every progress update (and the library's debug log messages)."""
    return logging.NOTSET < logging.getLogger(LOGGER).level <= logging.DEBUG


def make_console(*, quiet_here: bool = False) -> Console:
    """The console results and progress print on: silent under -q (or where `quiet_here`, e.g. DDP rank > 0)."""
    return Console(quiet=quiet_here or quiet())


def warn(console: Console, message: str) -> None:
    """A warning the user must see: on `console`, or on stderr when -q silenced the console."""
    if not console.quiet:
        console.print(f"[bold red]WARNING[/] {message}")
    elif quiet():
        Console(stderr=True).print(f"WARNING {message}", markup=False, highlight=False)


@dataclass
class _Task:
    description: str
    total: int
    completed: int = 0
    status: str = ""
    printed_at: float = 0.0
    rich_id: rich_progress.TaskID | None = None


class ProgressDisplay:
    """Tasks of `total` steps with a status text; a live bar on a terminal, plain lines elsewhere."""

    def __init__(self, console: Console | None = None, *, enabled: bool = True) -> None:
        self.console = console or make_console()
        self.enabled = enabled and not self.console.quiet
        self.interval = 0.0 if verbose() else HEARTBEAT_SECONDS
        self._tasks: dict[int, _Task] = {}
        self._live = (
            rich_progress.Progress(
                rich_progress.TextColumn("[bold]{task.description}"),
                rich_progress.BarColumn(),
                rich_progress.MofNCompleteColumn(),
                rich_progress.TextColumn("{task.fields[status]}"),
                rich_progress.TimeRemainingColumn(),
                console=self.console,
            )
            if self.enabled and self.console.is_terminal
            else None
        )

    def __enter__(self) -> ProgressDisplay:
        if self._live is not None:
            self._live.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.stop()

    def add(self, description: str, total: int) -> int:
        """Start a task; returns its id for `update`."""
        task = _Task(description, total, printed_at=time.monotonic())
        if self._live is not None:
            task.rich_id = self._live.add_task(description, total=total, status="")
        self._tasks[len(self._tasks)] = task
        return len(self._tasks) - 1

    def update(
        self,
        task_id: int,
        completed: int,
        status: str = "",
        *,
        total: int | None = None,
        description: str | None = None,
    ) -> None:
        """Move a task to `completed` steps (of a new `total` / `description` when given)."""
        task = self._tasks[task_id]
        task.completed, task.status = completed, status
        task.total = task.total if total is None else total
        task.description = task.description if description is None else description
        if not self.enabled:
            return
        if self._live is not None and task.rich_id is not None:
            self._live.update(
                task.rich_id,
                completed=completed,
                total=task.total,
                description=task.description,
                status=status,
            )
            return
        now = time.monotonic()
        if completed >= task.total or now - task.printed_at >= self.interval:
            task.printed_at = now
            self.console.print(self.line(task_id), markup=False, highlight=False)

    def counter(self, description: str, status: str = "") -> Callable[[int, int], None]:
        """A `(done, total)` callback for library code; its task shows from the first call."""
        task: list[int] = []

        def count(done: int, total: int) -> None:
            if not task:
                task.append(self.add(description, total))
            self.update(task[0], done, status, total=total)

        return count

    def line(self, task_id: int) -> str:
        """The task as one plain line: "description: 3/10 status"."""
        task = self._tasks[task_id]
        return f"{task.description}: {task.completed}/{task.total}" + (
            f" {task.status}" if task.status else ""
        )
