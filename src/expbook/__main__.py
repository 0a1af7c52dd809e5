"""`python -m expbook ...`: the same as the `expbook` console script."""

from expbook.cli import main

main()
