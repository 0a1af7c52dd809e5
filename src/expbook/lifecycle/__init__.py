"""The lifecycle wing: what happens to experiments after they ran.

`gc` (remove experiments a keep-best/keep-last/age policy leaves out, their notes and the DVC
cache objects nothing references any more) and `alerts` (run a command or POST a webhook when
a sweep finds a new best or a CI check fails), and `scaffold` (`expbook init`: what a project
needs before its first experiments: metric directions, a sweep spec, a CI workflow).

Sits beside `expbook.share`: used by the CLI, `expbook.sweep` and `expbook.repro`.
May import: `expbook.registry`, `expbook.query`, `expbook.output`, `expbook.errors`,
`expbook.env`.
"""
