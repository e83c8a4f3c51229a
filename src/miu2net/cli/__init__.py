"""The ``miu2net`` command line: thin shells that parse, call the library and print (no library logic).

:mod:`.app` holds the typer app; :mod:`.maps` the map commands (reconstruct, project, evaluate);
:mod:`.sims` simulate and show; :mod:`.train` train, calibrate and the model commands; :mod:`.common` the
error handling and parsing they share.
"""

from miu2net.cli.app import app

__all__ = ["app"]
