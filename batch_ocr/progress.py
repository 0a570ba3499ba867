"""Progress of a job on stderr: a tqdm bar on a terminal, plain log lines for cron and systemd."""
from __future__ import annotations

import sys
import time
from typing import IO

from batch_ocr.records import STATUS_ERROR, FileResult

LOG_EVERY_FILES = 100
LOG_EVERY_SECONDS = 30.0


def _isatty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Progress:
    """tqdm on a terminal, else a log line every LOG_EVERY_FILES files / LOG_EVERY_SECONDS.

    `progress` forces the bar on or off; `quiet` silences everything but `Progress.fail`.
    """

    def __init__(self, quiet: bool, progress: bool | None):
        self.stream = sys.stderr
        self.quiet = quiet
        self.use_bar = (progress if progress is not None else _isatty(self.stream)) and not quiet
        self.total = self.done = self.lines = self.errors = 0
        self.start = self.last_log = time.monotonic()
        self.bar = None

    def begin(self, total: int, done: int) -> None:
        """Start counting: `total` files in this run, `done` of them finished by earlier runs."""
        self.total, self.done = total, done
        if self.use_bar:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=done, unit="file", file=self.stream,
                            dynamic_ncols=True)

    def log(self, message: str) -> None:
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.write(f"batch-ocr: {message}", file=self.stream)
        else:
            print(f"batch-ocr: {message}", file=self.stream, flush=True)

    def fail(self, message: str) -> None:
        """An error message, shown even with `quiet`."""
        self.close()
        print(f"batch-ocr: error: {message}", file=self.stream, flush=True)

    def finished(self, result: FileResult) -> None:
        self.done += 1
        self.lines += sum(len(page.lines) for page in result.pages)
        if result.status == STATUS_ERROR:
            self.errors += 1
            self.log(f"error row for {result.file}: {result.error}")
        if self.bar is not None:
            self.bar.set_postfix(lines=self.lines, errors=self.errors, refresh=False)
            self.bar.update(1)
            return
        now = time.monotonic()
        if self.done % LOG_EVERY_FILES == 0 or now - self.last_log >= LOG_EVERY_SECONDS:
            self.last_log = now
            self.log(f"{self.done}/{self.total} files, {self.lines} lines, {self.errors} errors, "
                     f"{now - self.start:.1f} s")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
