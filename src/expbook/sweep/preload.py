"""What a sweep trial imports, imported once: the forkserver the local sweep workers fork from
(expbook.sweep.runner) imports this module, so each worker starts with DVC, its git backends,
networkx and the YAML writer loaded instead of importing them itself (about a second of CPU per
worker; with -j 2 on two cores the workers used to import DVC side by side with the driver).

Only imports: nothing here opens a repository, starts a thread or reads the environment (the
forkserver forks workers for later sweeps too, and each applies the driver's environment).
A worker that was spawned instead imports this module itself. Run: nothing to run.
"""

from __future__ import annotations

import importlib

# entry points of what `run_trial` uses; each pulls in the rest (measured: a trial imports
# ~30 modules after these instead of ~970)
MODULES = (
    "expbook.sweep.trial",
    "expbook.sweep.workspace",
    "expbook.registry.notes",
    "expbook.query",
    "ruamel.yaml",
    "networkx",
    "psutil",
    "dvc.repo",
    "dvc.repo.index",
    "dvc.repo.graph",
    "dvc.repo.reproduce",
    "dvc.repo.scm_context",
    "dvc.repo.metrics.show",
    "dvc.repo.brancher",
    "dvc.repo.trie",
    "dvc.stage.run",
    "dvc.stage.cache",
    "dvc.stage.serialize",
    "dvc.stage.loader",
    "dvc.config",
    "dvc.dvcfile",
    "dvc.lock",
    "dvc.rwlock",
    "dvc.output",
    "dvc.dependency",
    "dvc.cachemgr",
    "dvc.data_cloud",
    "dvc.utils.strictyaml",
    "dvc_data.index",
    "dvc_data.fs",
    "dvc_data.hashfile.status",
    "dvc_data.hashfile.build",
    "dvc_data.hashfile.checkout",
    "scmrepo.git",
    "scmrepo.git.backend.pygit2",
    "scmrepo.git.backend.pygit2.filter",
    "scmrepo.git.backend.dulwich",
    "scmrepo.git.backend.gitpython",
)


def _preload() -> None:
    for name in MODULES:
        try:
            importlib.import_module(name)
        except ImportError:  # a DVC version without it: the trial imports what it needs
            continue
    from expbook.sweep import workspace

    workspace.yaml_writer()  # ruamel's representers and resolvers, built once


_preload()
