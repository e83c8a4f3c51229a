"""What every command shares: the stderr console, the one-line error handling, ``--option`` parsing and
the clean-up of a folder a command did not finish."""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
import sys
from pathlib import Path

import typer
from rich.console import Console
from typer.core import TyperGroup

from miu2net.errors import InputError

console = Console(stderr=True)

#: Exit code of a command stopped by Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED = 130
#: What an interrupted command leaves, unless it says otherwise (``KeyboardInterrupt(note)``).
NOTHING_WRITTEN = "nothing was written (files are written whole or not at all)"


def print_error(message: str) -> None:
    """One ``error:`` line on stderr, the message printed as text (square brackets kept), not as rich markup."""
    from rich.markup import escape

    message = " ".join(line.strip() for line in str(message).splitlines() if line.strip())  # one line, always
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


class OneLineErrors(TyperGroup):
    """The ``miu2net`` group: click's own usage errors (an option value of the wrong type, an unknown
    command, a missing option) end as every other refusal does, in one ``error:`` line with exit code 2,
    not in rich's boxed panel. ``--help`` and ``--version`` are untouched (exit 0), and so is the help
    shown for a bare ``miu2net`` or ``miu2net models``.

    Recognised by class name, as typer itself does: typer >= 0.20 carries its own copy of click, whose
    exceptions are not ``click``'s."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.Abort:
            print_error("aborted")
            sys.exit(1)
        except Exception as exc:
            kinds = {c.__name__ for c in type(exc).__mro__}
            if not kinds & {"ClickException", "TyperException"}:
                raise
            if "NoArgsIsHelpError" in kinds:  # a bare group: its help, as typer shows it
                from typer import rich_utils

                rich_utils.rich_format_error(exc)
            else:
                where = getattr(getattr(exc, "ctx", None), "command_path", None)
                print_error(" ".join(exc.format_message().split()) + (f" (see {where} --help)" if where else ""))
            sys.exit(exc.exit_code)
        sys.exit(code if isinstance(code, int) else 0)


def user_errors(func):
    """Report bad input as one ``error:`` line on stderr with exit code 2, never a traceback.

    Bad input is :class:`miu2net.errors.InputError`, an invalid configuration (pydantic's
    ValidationError) or a file that cannot be read or written (OSError). The message is printed as
    text (square brackets kept), not as rich markup. Ctrl-C (KeyboardInterrupt, also when Lightning has
    turned it into ``sys.exit(1)``) is one line too, with exit code 130; a command may raise
    ``KeyboardInterrupt(note)`` to say what it kept (e.g. a resumable store).
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from pydantic import ValidationError

        try:
            return func(*args, **kwargs)
        except ValidationError as exc:
            details = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors())
            print_error(details)
            raise typer.Exit(code=2) from None
        except (InputError, OSError) as exc:
            print_error(str(exc))
            raise typer.Exit(code=2) from None
        except MemoryError:  # past the size checks (they use the physical memory; a ulimit or other jobs give less)
            print_error("out of memory: this request needs more memory than this process may use (a ulimit, other "
                        "jobs); nothing was written: give a smaller map size (--size, --npix, map_size) or fewer maps")
            raise typer.Exit(code=2) from None
        except KeyboardInterrupt as exc:
            print_error(f"interrupted (Ctrl-C); {str(exc) or NOTHING_WRITTEN}")
            raise typer.Exit(code=INTERRUPTED) from None
        except SystemExit as exc:
            if isinstance(exc.__context__, KeyboardInterrupt):  # Lightning turns Ctrl-C into sys.exit(1)
                print_error(f"interrupted (Ctrl-C); {NOTHING_WRITTEN}")
                raise typer.Exit(code=INTERRUPTED) from None
            raise

    return wrapper


def parse_options(pairs: list[str]) -> dict:
    """``KEY=VALUE`` strings to a dict; values are read as JSON when they parse (numbers, true/false)."""
    options = {}
    for pair in pairs:
        if "=" not in pair:
            raise InputError(f"--option expects KEY=VALUE; got {pair!r}")
        key, value = pair.split("=", 1)
        if value.strip().lower() in ("true", "false"):  # True, FALSE ... as well as JSON's true/false
            options[key.strip()] = value.strip().lower() == "true"
            continue
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


def parse_center(text: str | None) -> tuple[float, float] | None:
    """``"RA,DEC"`` (degrees) to a tuple; ranges are checked by the pipeline's validation."""
    if text is None:
        return None
    try:
        ra, dec = (float(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"--center expects RA,DEC in degrees (e.g. 150.1,2.2); got {text!r}") from None
    return ra, dec


@contextlib.contextmanager
def removed_if_unfinished(folder: Path):
    """Run the body; if it fails or is interrupted, remove what it added to ``folder`` (the folder itself
    and its missing parents when they did not exist). Files it replaced keep their new content."""
    top = folder
    while not top.parent.exists() and top.parent != top.parent.parent:
        top = top.parent
    before = set(folder.iterdir()) if folder.is_dir() else None
    try:
        yield
    except BaseException:
        if before is None:
            shutil.rmtree(top, ignore_errors=True)  # the highest folder that did not exist
        else:
            for path in set(folder.iterdir()) - before:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
        raise
