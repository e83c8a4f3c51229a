"""The one exception type for bad user input; the CLI turns it into a one-line error and exit code 2."""


class InputError(ValueError):
    """Input that cannot give a correct result: says what was wrong and what was expected."""
