"""What every command shares: the stderr console and the one-line error handling."""

from __future__ import annotations

import functools

import typer
from rich.console import Console

from miu2net.errors import InputError

console = Console(stderr=True)


def user_errors(func):
    """Report bad input as one ``error:`` line on stderr with exit code 2, never a traceback.

    Bad input is :class:`miu2net.errors.InputError`, an invalid configuration (pydantic's
    ValidationError) or a file that cannot be read or written (OSError). The message is printed as
    text (square brackets kept), not as rich markup.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from pydantic import ValidationError
        from rich.markup import escape

        try:
            return func(*args, **kwargs)
        except ValidationError as exc:
            details = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors())
            console.print(f"[bold red]error:[/] {escape(details)}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None
        except (InputError, OSError) as exc:
            console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None

    return wrapper
