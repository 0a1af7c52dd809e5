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
