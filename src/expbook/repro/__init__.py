"""The reproduction wing: re-run an experiment in a clean worktree and compare.

`reproduce` (checkout in a temporary git worktree, `dvc repro --force --no-run-cache`,
compare every metric and output hash) and `check` (the CI gate: reproduce HEAD, then apply
`--fail-if` rules and write a report).

May import: `expbook.registry`, `expbook.query`, `expbook.output`, `expbook.errors`.
"""
