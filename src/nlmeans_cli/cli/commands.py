"""The command classes under Typer: one-line errors for the group, plain help for commands."""

from __future__ import annotations

import copy
import inspect
import sys

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from .output import interrupt_exit_code, terminate_as_interrupt

__all__ = ["OneLineErrors", "PlainHelp", "fail"]


class OneLineErrors(TyperGroup):
    """Usage errors as one line, ``nlm: error: ...``, with exit code 2 (not a boxed panel)."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        """Run the command line; SIGTERM stops it as Ctrl-C does (exit 143)."""
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        terminate_as_interrupt()
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except typer.TyperException as error:
            message = " ".join(error.format_message().split())
            # `nlm` alone has printed the help already; there is nothing more to say.
            if message:
                typer.echo(f"nlm: error: {message}", err=True)
            sys.exit(getattr(error, "exit_code", 2))
        except typer.Abort:
            typer.echo("nlm: aborted", err=True)
            sys.exit(interrupt_exit_code(130))
        code = interrupt_exit_code(code if isinstance(code, int) else 0)
        if code in (130, 143):
            typer.echo("nlm: terminated" if code == 143 else "nlm: interrupted", err=True)
        sys.exit(code)


class PlainHelp(TyperCommand):
    """Help that names values (INT, PATH, INPUT), not Python types (``<int range>``, ``<bool>``).

    Typer labels every parameter with its annotation's type and wraps required arguments in
    braces; the metavars and help texts already say what to give.
    """

    def format_help(self, ctx, formatter) -> None:
        """Write the help with every parameter's value named (see the class)."""
        for param in self.get_params(ctx):
            _name_values(param, ctx)
        self.help = _joined_paragraphs(self.help)
        super().format_help(ctx, formatter)

    def collect_usage_pieces(self, ctx) -> list[str]:
        """Return the usage line's pieces: ``[OPTIONS]`` and the arguments' names."""
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = (param.metavar or param.name or "").upper()
                name += "..." if param.nargs != 1 and not name.endswith("...") else ""
                pieces.append(name if param.required else f"[{name}]")
        return pieces


def _joined_paragraphs(text: str | None) -> str | None:
    """Return a docstring's paragraphs each on one line, for the terminal to wrap.

    Typer keeps the source's line breaks after the first paragraph, which then break again
    wherever the terminal is narrower than the source's lines.
    """
    if not text:
        return text
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(paragraph if paragraph.startswith("\b")
                       else " ".join(paragraph.split()) for paragraph in paragraphs)


_VALUE_NAMES = {"<int": "INT", "<float": "FLOAT"}


def _name_values(param, ctx) -> None:
    """Give *param* a metavar that names its value, and no type label."""
    if isinstance(param, TyperArgument):
        param.metavar = (param.metavar or param.name or "").upper()
        # Typer labels an argument with its type's metavar; a copy without one keeps the
        # conversion and leaves the shared type (click's STRING) alone.
        param.type = copy.copy(param.type)
        param.type.get_metavar = lambda param, ctx: ""
    elif isinstance(param, TyperOption) and param.metavar is None:
        label = param.make_metavar(ctx)
        for start, name in _VALUE_NAMES.items():
            if label.startswith(start):
                param.metavar = name


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``nlm: error: MESSAGE`` on stderr and return the exit to raise (code 1 or 2)."""
    typer.echo(f"nlm: error: {message}", err=True)
    return typer.Exit(code)
