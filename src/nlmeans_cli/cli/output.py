"""What the commands show: progress bars (rich, on stderr), summary lines and tables.

Nothing here denoises; the commands in :mod:`nlmeans_cli.cli.app` hand these their results.
"""

from __future__ import annotations

import time

import typer

__all__ = [
    "FileProgress",
    "FrameProgress",
    "GracefulStop",
    "TrainingProgress",
    "StillProgress",
    "comparison_table",
    "noise_line",
    "rich_bar",
    "summary",
]


def summary(outcome) -> str:
    """One line for a denoised file: what it was, sigma, and what the method used.

    Sigma and h are shown on the 0-255 scale; a learned run names its model instead of
    NL-means' h, patch and window, which it does not use.
    """
    source = "estimated" if outcome.sigma_estimated else "given"
    temporal = ("" if outcome.temporal_window is None
                else f", temporal window {outcome.temporal_window}")
    if outcome.model is not None:
        used = ""
    else:
        kernel = "" if outcome.patch_kernel in (None, "box") else f" {outcome.patch_kernel}"
        how = " (SURE)" if outcome.h_chosen_by == "sure" else ""
        chroma = "" if outcome.h_chroma is None else f", h chroma {_number(outcome.h_chroma)}"
        refined = ", refined" if outcome.refined else ""
        used = (f", h {_number(outcome.h)}{how}{chroma}, patch {outcome.patch_size}{kernel}, "
                f"window {outcome.search_window}{refined}")
        if outcome.spacing is not None:
            steps = "x".join(f"{step:g}" for step in outcome.spacing)
            patch, search = outcome.radii["patch"], outcome.radii["search"]
            used += (f", spacing {steps} (Z x Y x X): radii patch "
                     f"{'/'.join(map(str, patch))}, window {'/'.join(map(str, search))}")
    if outcome.noise == "poisson-gaussian":
        gain = f"gain {_parameter(outcome.gain)}"
        read = f"read noise {_parameter(outcome.read_noise)}"
        if outcome.noise_fitted and outcome.noise_given:  # one given, the other fitted
            hows = ["given" if name in outcome.noise_given else "fitted"
                    for name in ("gain", "read noise")]
            pair = f"{gain} ({hows[0]}), {read} ({hows[1]})"
        else:
            pair = f"{gain}, {read} ({'fitted' if outcome.noise_fitted else 'given'})"
        if outcome.black_level is not None:
            pair += (f", black level {_parameter(outcome.black_level)} "
                     f"({outcome.black_level_source})")
        noise = f"poisson-gaussian noise, {pair}, stabilised"
        if outcome.measured_share < 1:
            noise += f" (its noise measured {outcome.measured_share:.2f} of the model's)"
        if outcome.model is None:
            # The stabilised image's own scale means nothing to the user: h against its sigma.
            used = used.replace(f", h {_number(outcome.h)}",
                                f", h {outcome.h / outcome.sigma:.2f} x sigma", 1)
            if outcome.h_chroma is not None:
                used = used.replace(f", h chroma {_number(outcome.h_chroma)}",
                                    f", h chroma {outcome.h_chroma / outcome.sigma:.2f} x sigma",
                                    1)
    else:
        noise = f"sigma {_number(outcome.sigma)} ({source})"
    return f"{outcome.input}: {outcome.description}, {noise}{used}{temporal}"


def noise_line(reading) -> str:
    """One line for a file's noise (``nlm noise``): what it is, and its noise.

    On the 0-255 scale, as ``--sigma``, ``--gain`` and ``--read-noise`` take it; a 16-bit
    file's values in brackets too. A stack whose channels are kept apart gives each
    channel's.
    """
    names = ("sigma",) if reading.noise == "gaussian" else ("gain", "read_noise")
    sixteen = reading.file_scale == 257.0
    pieces = []
    for name in names:
        values = [part[name] for part in reading.parts]
        text = ", ".join(_parameter(value) for value in values)
        if sixteen:
            text += " (" + ", ".join(f"{value * 257.0:.4g}" for value in values)
            text += " in the file's values)"
        pieces.append(f"{name.replace('_', ' ')} {text}")
    channels = (f" (channels {', '.join(str(c + 1) for c in range(len(reading.parts)))})"
                if len(reading.parts) > 1 else "")
    return f"{reading.input}: {reading.description}, {', '.join(pieces)}{channels}"


def _number(value: float) -> str:
    """Two decimals for ordinary values, three significant digits for extreme ones."""
    return f"{value:.2f}" if value == 0 or 0.01 <= abs(value) < 1e6 else f"{value:.3g}"


def _parameter(value: float) -> str:
    """Format a noise parameter to be given back as it is: three significant digits below 1.

    A 16-bit image's gain on the 0-255 scale is a few hundredths (6 levels per photon is
    0.0233), which two decimals would round by up to a fifth.
    """
    return f"{value:.3g}" if 0 < abs(value) < 1 else _number(value)


def comparison_table(comparison) -> str:
    """Format the text table of ``nlm compare``: PSNR, SSIM and seconds per image and method."""
    names = list(comparison.mean)
    header = f"{'image':<28} {'noisy':>6} " + " ".join(f"{name:>26}" for name in names)
    sub = f"{'':<28} {'PSNR':>6} " + " ".join(f"{'PSNR  SSIM      s':>26}" for _ in names)
    if comparison.noise:
        added = (f"poisson-gaussian noise, gain {comparison.noise['gain']:g}, read noise "
                 f"{comparison.noise['read_noise']:g}")
        if comparison.noise.get("black_level"):
            added += f", black level {comparison.noise['black_level']:g}"
    else:
        added = f"sigma {comparison.sigma:g}"
    lines = [added + (f", seed {comparison.seed}" if comparison.seed is not None else ""),
             header, sub]

    def cells(methods):
        return " ".join(f"{m['psnr']:>13.2f} {m['ssim']:.3f} {m['seconds']:6.2f}"
                        for m in (methods[name] for name in names))

    for image in comparison.images:
        name = image.path if len(image.path) <= 28 else "..." + image.path[-25:]
        lines.append(f"{name:<28} {image.noisy_psnr:>6.2f} {cells(image.methods)}")
    if len(comparison.images) > 1:
        noisy_mean = sum(i.noisy_psnr for i in comparison.images) / len(comparison.images)
        lines.append(f"{'mean':<28} {noisy_mean:>6.2f} {cells(comparison.mean)}")
    return "\n".join(lines)


class TrainingProgress:
    """A rich progress bar over the training steps with the loss and the validation PSNR."""

    def __init__(self, steps: int, quiet: bool):
        self.total, self.quiet, self.bar = steps, quiet, None
        self.validation = "-"

    def __enter__(self):
        if self.quiet:
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn

        self.bar = rich_bar(TextColumn("training"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("loss {task.fields[loss]} val {task.fields[validation]}"))
        self.task = self.bar.add_task("train", total=self.total, loss="-", validation="-")
        return self._advance

    def _advance(self, step, steps, loss, validation_psnr):
        if validation_psnr is not None:
            self.validation = f"{validation_psnr:.2f} dB"
        self.bar.update(self.task, refresh=True, completed=step, loss=f"{loss:.6f}",
                        validation=self.validation)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised as Ctrl-C is, so that what is being written is cleaned up the same way."""


# Whether SIGTERM stopped this process (Typer turns any KeyboardInterrupt into exit 130).
_RECEIVED = {"terminate": False}


def _raise_terminated(signum, frame):
    _RECEIVED["terminate"] = True
    raise Terminated


def terminate_as_interrupt() -> None:
    """Make SIGTERM (``kill``, SLURM, systemd) stop the command as Ctrl-C does.

    Python's default for SIGTERM is to die on the spot, leaving hidden partial files; raised
    as an exception instead, it unwinds through every write in progress, which removes its
    temporary file.
    """
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)


def interrupt_exit_code(code: int) -> int:
    """Return the exit code for a command that ended with *code*.

    143 (128 + 15) in place of Ctrl-C's 130 when SIGTERM stopped it.
    """
    return 143 if code == 130 and _RECEIVED["terminate"] else code


class GracefulStop:
    """Ctrl-C and SIGTERM handling for a batch.

    The first signal lets the files in progress finish and starts no more; a second one
    interrupts at once.
    """

    def __init__(self):
        self._requested = False
        self.exit_code = 130

    def requested(self) -> bool:
        """Tell whether a stop was asked for."""
        return self._requested

    def _on_signal(self, signum, frame):
        import signal

        terminated = signum == signal.SIGTERM
        if self._requested:
            if terminated:
                _raise_terminated(signum, frame)
            raise KeyboardInterrupt
        self._requested = True
        self.exit_code = 143 if terminated else 130
        what = "terminated" if terminated else "interrupted"
        again = "signal" if terminated else "Ctrl-C"
        typer.echo(f"nlm: {what}: finishing the files in progress ({again} again to stop at "
                   "once)", err=True)

    def __enter__(self):
        import signal
        import threading

        self._previous = {}
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self._previous[number] = signal.signal(number, self._on_signal)
        return self

    def __exit__(self, *exc):
        import signal

        for number, handler in self._previous.items():
            signal.signal(number, handler)
        return False


def rich_bar(*columns):
    """Start a rich progress bar on stderr with these columns (the caller exits it)."""
    from rich.console import Console
    from rich.progress import Progress

    # No refresh thread: a bar redraws when it is updated. A Ctrl-C that lands while the
    # refresh thread waits on the bar's lock could otherwise leave the command hanging.
    bar = Progress(*columns, console=Console(stderr=True, highlight=False), auto_refresh=False)
    bar.__enter__()
    return bar


class FileProgress:
    """A rich progress bar on stderr (files done, rate, time left), or nothing when quiet.

    Entering gives a ``report(outcome)`` callable that advances the bar and prints a failed
    file's error above it.
    """

    def __init__(self, total: int, quiet: bool):
        self.total, self.quiet, self.bar = total, quiet, None

    def __enter__(self):
        if self.quiet:
            return self._report_quietly
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

        self.bar = rich_bar(TextColumn("denoising"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.fields[rate]}"), TimeRemainingColumn())
        self.task = self.bar.add_task("files", total=self.total, rate="")
        self.started = time.perf_counter()
        return self._report

    def _report(self, outcome) -> None:
        if not outcome.ok:
            # One line whatever the width: a path split over lines cannot be copied or grepped.
            self.bar.console.print(f"nlm: error: {outcome.error}", markup=False,
                                   soft_wrap=True, highlight=False)
        done = self.bar.tasks[0].completed + 1
        rate = done / max(time.perf_counter() - self.started, 1e-9)
        self.bar.update(self.task, advance=1, rate=f"{rate:.2f} files/s", refresh=True)

    @staticmethod
    def _report_quietly(outcome) -> None:
        if not outcome.ok:
            typer.echo(f"nlm: error: {outcome.error}", err=True)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False


class StillProgress:
    """A rich progress bar for a still image that takes more than a second; nothing if quiet.

    Entering makes every engine pass inside the block report to the bar
    (:func:`nlmeans_cli.engine.reporting_progress`); the bar shows the current pass, and
    appears only once the image has taken a second.
    """

    def __init__(self, quiet: bool):
        self.quiet, self.bar, self.passes, self.last = quiet, None, 1, 0.0

    def __enter__(self):
        if self.quiet:
            return self
        from ..engine import reporting_progress

        self.started = time.perf_counter()
        self._reporting = reporting_progress(self._report)
        self._reporting.__enter__()
        return self

    def _report(self, fraction: float) -> None:
        if _RECEIVED["terminate"]:
            raise Terminated
        if fraction < self.last:
            self.passes += 1
        self.last = fraction
        if self.bar is None:
            if time.perf_counter() - self.started < 1.0:
                return
            from rich.progress import BarColumn, TaskProgressColumn, TextColumn

            self.bar = rich_bar(TextColumn("denoising, pass {task.fields[passes]}"),
                                BarColumn(), TaskProgressColumn())
            self.task = self.bar.add_task("still", total=1.0, passes=self.passes)
        self.bar.update(self.task, completed=fraction, passes=self.passes, refresh=True)

    def __exit__(self, *exc):
        if not self.quiet:
            self._reporting.__exit__(*exc)
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False


class FrameProgress:
    """A rich progress bar counting the frames of a clip; nothing for a still image or quiet.

    Entering gives the ``progress(done, total)`` callable that :func:`denoise_file` calls per
    frame; the bar appears at the first frame.
    """

    def __init__(self, quiet: bool):
        self.quiet, self.bar = quiet, None

    def __enter__(self):
        return None if self.quiet else self._advance

    def _advance(self, done: int, total: int | None) -> None:
        if _RECEIVED["terminate"]:
            # SIGTERM's exception was swallowed where Python ignores exceptions (a __del__).
            raise Terminated
        if self.bar is None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeRemainingColumn,
            )

            self.bar = rich_bar(TextColumn("frames"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn())
            self.task = self.bar.add_task("frames", total=total)
        self.bar.update(self.task, refresh=True, completed=done,
                        total=max(total, done) if total is not None else None)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False
