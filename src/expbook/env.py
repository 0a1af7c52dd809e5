"""Names of the environment variables expbook reads or sets, in one place."""

# Set by `expbook sweep` for each trial: a pipeline that supports pruning stops
# cleanly after the current epoch once this file exists (see README "Pruning").
PRUNE_FILE = "EXPBOOK_PRUNE_FILE"
# Set by `expbook sweep -j N`: threads each trial may use (torch reads OMP_NUM_THREADS).
NUM_THREADS = "EXPBOOK_NUM_THREADS"
# Overrides where the registry keeps its commit-keyed cache (default .dvc/tmp/expbook).
CACHE_DIR = "EXPBOOK_CACHE_DIR"
# Disables the registry cache entirely when set to a true value (benchmarks, debugging).
NO_CACHE = "EXPBOOK_NO_CACHE"
# Set for `--on-best` commands: the new best trial's name and its metric value.
BEST_NAME = "EXPBOOK_BEST_NAME"
BEST_VALUE = "EXPBOOK_BEST_VALUE"
# Set for `expbook check --on-fail` commands: the checked experiment and its failed rules.
CHECK_NAME = "EXPBOOK_CHECK_NAME"
CHECK_FAILED = "EXPBOOK_CHECK_FAILED"
# Where a Ray node keeps its clone and trial workspaces (default: $TMPDIR/expbook-ray-<uid>).
WORKDIR = "EXPBOOK_WORKDIR"
# `sweep --warm-stages` diagnostics: each stage command appends "warm|normal<TAB>command" here
WARM_LOG = "EXPBOOK_WARM_LOG"
