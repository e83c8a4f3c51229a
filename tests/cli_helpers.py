"""What every command-line refusal must look like, for the CLI tests."""


def assert_refused(result, expected):
    """The promised form: exit code 2, exactly one ``error:`` line holding ``expected``, no traceback and no
    boxed usage panel."""
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2, f"exit {result.exit_code}, output:\n{result.output}{result.exception!r}"
    assert len(errors) == 1 and expected in errors[0], result.output
    assert "Traceback" not in result.output and "╭" not in result.output, result.output
