"""`python -m dnabench` runs the command-line interface."""

from dnabench.cli import app

app(prog_name="dnabench")
