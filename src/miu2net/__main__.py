"""``python -m miu2net``: the command-line interface (the same as the ``miu2net`` script)."""

from miu2net.cli import app

if __name__ == "__main__":
    app()
