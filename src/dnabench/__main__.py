"""`python -m dnabench` runs the command-line interface."""

from dnabench.cli import main

main()
