"""The sharing wing: move experiments between clones.

`sync` pushes and pulls exp refs (`dvc exp push/pull`), the notes ref (merging note lists)
and sweep state refs.

May import: `expbook.registry`, `expbook.errors`.
"""
