"""The terminal and JSON text of `expbook reproduce` and `expbook check`: the diff rows of a
reproduction (fitted to the terminal's width, issue 18), its verdict line, JSON objects.

Presentation only, over expbook.repro.reproduce.Reproduction; used by cli.repro_cmds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from expbook.repro.reproduce import Reproduction


def diff_rows(result: Reproduction, only_changed: bool = False) -> list[dict[str, Any]]:
    """Table rows (kind, key, recorded, reproduced, status, detail) of a reproduce.Reproduction."""
    return [
        {
            "kind": d.kind,
            "key": d.key,
            "recorded": d.recorded,
            "reproduced": d.reproduced,
            "status": d.status,
            "detail": d.detail,
        }
        for d in result.diffs
        if not (only_changed and d.status in ("equal", "ignored"))
    ]


def summarize_many(results: list[Reproduction]) -> str:
    """One line over several reproductions: how many were bit-exact, within tolerance, off."""
    exact = sum(r.bit_exact for r in results)
    within = sum(r.ok and not r.bit_exact for r in results)
    errors = sum(r.error is not None for r in results)
    failed = len(results) - exact - within - errors
    return (
        f"{exact}/{len(results)} reproduced bit-exactly, {within} within tolerance, "
        f"{failed} differ, {errors} errors"
    )


def result_json(result: Reproduction, only_changed: bool = False) -> dict[str, Any]:
    """One reproduction as a JSON object: outcome, summary line and its diff rows."""
    return {
        "name": result.name,
        "rev": result.rev,
        "ok": result.ok,
        "bit_exact": result.bit_exact,
        "exit_code": result.exit_code,
        "error": result.error,
        "summary": result.summary(),
        "workspace": result.workspace,
        "diffs": diff_rows(result, only_changed=only_changed),
    }


DIFF_COLUMNS = ["kind", "key", "recorded", "reproduced", "status", "detail"]


def print_diffs(result: Reproduction, fmt: str, changed_only: bool, verbose: bool = True) -> int:
    """Print the diff rows; a terminal table (`fmt` table) fits the terminal and, unless
    `verbose`, leaves out the equal rows (issue 18). Returns how many rows were left out."""
    from expbook.output import cell, render, short_names

    rows = diff_rows(result, only_changed=changed_only)
    hidden = 0
    if fmt == "table" and not verbose:
        shown = [r for r in rows if r["status"] != "equal"]
        hidden, rows = len(rows) - len(shown), shown
    if not rows:
        return hidden
    if fmt == "table":
        from expbook.output.fit import NARROW, fit_blocks, fit_table, output_width

        short = short_names([r["key"] for r in rows])
        cells = [
            {
                **{c: r[c] for c in ("kind", "status", "detail")},
                "key": short[r["key"]],
                # md5s cut to 12 hex digits: enough to tell two apart (full ones: --format csv)
                **{c: _short_hash(cell(r[c])) for c in ("recorded", "reproduced")},
            }
            for r in rows
        ]
        columns = [c for c in DIFF_COLUMNS if c != "detail" or any(r["detail"] for r in rows)]
        title = f"{result.name} ({result.rev[:7]})"
        width = output_width()
        if width < NARROW:  # five or six columns would be slivers: a block per row
            rest = [c for c in columns if c not in ("kind", "key")]
            blocks = [(f"{r['kind']} {r['key']}", [(c, str(r[c])) for c in rest]) for r in cells]
            click.echo(fit_blocks(title, blocks, width), nl=False)
            return hidden
        click.echo(fit_table(cells, columns, width, title=title), nl=False)
        return hidden
    title = f"{result.name} ({result.rev[:7]})"
    click.echo(render(rows, DIFF_COLUMNS, fmt, full_names=True, title=title), nl=False)
    return hidden


def _short_hash(text: str) -> str:
    is_md5 = len(text) in (32, 36) and all(
        c in "0123456789abcdef." for c in text.removesuffix(".dir")
    )
    return text[:12] + "…" if is_md5 else text


def say(text: str, fmt: str, err: bool) -> None:
    """Echo a verdict line; in a table's company folded to the terminal's width (escaped)."""
    if fmt == "table":
        from expbook.output.fit import fold, output_width

        width = output_width()
        text = "\n".join(x for part in text.splitlines() for x in fold(part, width))
    click.echo(text, err=err)


def verdict_line(result: Reproduction, hidden: int) -> str:
    """The summary line, saying how many equal rows were left out and how to see them."""
    if not hidden:
        return result.summary()
    return f"{result.summary()}; {hidden} equal rows not shown (--verbose shows every row)"
