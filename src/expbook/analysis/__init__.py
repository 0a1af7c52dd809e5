"""The analysis wing: what to make of registry rows.

`compare` (differing params, metric deltas, ranking by metric or score), `stats` (per-group
summaries, t-tests, Holm), `grouping` (seed groups, flat rows), `curves` (dvclive step curves
from git/DVC cache), `plotting` and `groupplot` (PNG/SVG/PDF/HTML curve plots), `exporting` (one CSV per experiment),
`export_tb` / `export_mlflow` (TensorBoard runs / MLflow runs; optional extras).

May import: `expbook.registry`, `expbook.query`, `expbook.output`, `expbook.errors`.
"""
