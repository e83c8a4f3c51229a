"""The package's exception and warning types."""

import warnings

import pytest

from miu2net.errors import DataConsistencyWarning, InputError


def test_input_error_is_a_value_error_carrying_its_message():
    assert issubclass(InputError, ValueError)
    with pytest.raises(ValueError, match=r"^--size must be >= 8; got 4$"):
        raise InputError("--size must be >= 8; got 4")
    assert str(InputError("what was wrong, what was expected")) == "what was wrong, what was expected"


def test_data_consistency_warning_is_a_user_warning_that_can_be_filtered():
    assert issubclass(DataConsistencyWarning, UserWarning) and not issubclass(DataConsistencyWarning, InputError)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn("CHI2DOF = 3 outside [0.9, 1.1]", DataConsistencyWarning)
    assert len(caught) == 1 and caught[0].category is DataConsistencyWarning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=DataConsistencyWarning)
        warnings.warn("ignored", DataConsistencyWarning)
    assert caught == []


def test_the_errors_module_is_light_to_import():
    """Callers filter the warning without importing torch: miu2net.errors imports nothing heavy."""
    import subprocess
    import sys

    code = "import sys, miu2net.errors; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
