"""Errors of a training run that the command line reports in one line."""


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or inf; the run stops and the last good checkpoint is kept."""
