"""The one exception type for bad user input; the CLI turns it into a one-line error and exit code 2.

Beside it, the warning a trained model gives when its input is not what it knows (light to import, so
that callers can filter it without importing torch).
"""


class InputError(ValueError):
    """Input that cannot give a correct result: says what was wrong and what was expected."""


class DataConsistencyWarning(UserWarning):
    """The input's CHI2DOF lies outside what a calibrated model saw on its calibration data (DATAOK = F)."""
