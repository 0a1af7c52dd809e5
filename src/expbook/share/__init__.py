"""The sharing wing: move experiments between clones.

`sync` pushes and pulls exp refs (`dvc exp push/pull`), the notes ref (merging note lists)
and sweep state refs; `outputs` checks that experiments' DVC-cached outputs are on the DVC
remote (pushing missing ones with the workspace's remote config) and names what is not.

May import: `expbook.registry`, `expbook.errors`.
"""
