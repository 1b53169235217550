"""Progress display of a generation (rich): one bar for the chunks, one row counter per source."""

from __future__ import annotations

from types import TracebackType


class Progress:
    """A no-op unless ``enabled``; then a rich progress display with a bar per source."""

    def __init__(self, enabled: bool, sources: list[str], chunks: int) -> None:
        self.enabled = enabled
        self._rows = dict.fromkeys(sources, 0)
        self._progress = None
        self._tasks: dict[str, int] = {}
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            self._progress = RichProgress(
                TextColumn("{task.description:<24}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rows]:>14,} rows"),
                TimeElapsedColumn(),
            )
            self._tasks["_chunks"] = self._progress.add_task("client chunks", total=chunks, rows=0)
            for source in sources:
                self._tasks[source] = self._progress.add_task(source, total=chunks, rows=0)

    def __enter__(self) -> Progress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def advance(self, source: str, rows: int) -> None:
        self._rows[source] = self._rows.get(source, 0) + rows
        if self._progress is not None and source in self._tasks:
            self._progress.update(self._tasks[source], advance=1, rows=self._rows[source])

    def advance_chunk(self) -> None:
        if self._progress is not None:
            total = sum(self._rows.values())
            self._progress.update(self._tasks["_chunks"], advance=1, rows=total)
