"""The query wing: the `--where` / `--score` expression language over registry rows.

`expr` tokenizes and parses an expression into a tree (never `eval`); `where` resolves keys
(suffixes, `params.`/`metrics.` namespaces, backticked full keys) and evaluates the tree over
plain mappings. It knows nothing of git or DVC.

May import: `expbook.errors` only.
"""

from expbook.query.expr import is_number, keys_of, parse  # noqa: F401
from expbook.query.where import (  # noqa: F401
    PLAIN_COLUMNS,
    columns_of,
    compile_expr,
    compile_score,
    compile_where,
    filter_experiments,
    filter_rows,
    namespaces_of,
    resolve_key,
    suffix_matches,
)
