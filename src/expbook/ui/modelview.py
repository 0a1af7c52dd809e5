"""The dashboard's Models page and the model versions a run page shows: the model registry
(git tags in GTO's format, expbook.models) as JSON-able dicts.

Used by expbook.ui.server (`/api/models`, `/api/experiment`).
"""

from __future__ import annotations

from typing import Any

from expbook.errors import ExpbookError
from expbook.registry.gitrepo import GitRepo
from expbook.registry.view import view_of


def models(root: str) -> dict[str, Any]:
    """Every model (deprecated ones too) with its versions, stages and key metrics per version,
    and the full history of actions, oldest first."""
    from expbook.models import query

    repo = GitRepo(root, view=view_of(root))  # a remote's view reads its tags (issue 23)
    return {
        "models": query.listing(repo, with_metrics=True, deprecated=True),
        "history": query.history(repo),
    }


def models_at(root: str, rev: str) -> list[str]:
    """["name@v1.0.0", "name#prod", ...]: the active versions and stages at commit `rev`."""
    from expbook.models import state

    try:
        return state.models_at(state.load(GitRepo(root, view=view_of(root)))).get(rev, [])
    except ExpbookError:
        return []
