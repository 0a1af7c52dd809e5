"""`expbook model ...`: the model registry in GTO's git-tag format (thin over expbook.models).

GTO's verbs: register, assign, unassign, deregister, deprecate, list (GTO's `show`), history,
get (as `dvc artifacts get`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from expbook.cli.options import CONTEXT_SETTINGS, format_options, repo_option
from expbook.cli.printing import json_text

if TYPE_CHECKING:
    from expbook.models.actions import Done
    from expbook.registry.gitrepo import GitRepo

json_option = format_options(formats=("table", "json"), out=False)
message_option = click.option("--message", "-M", default=None, help="The tag's message.")


def _open(repo: str) -> GitRepo:
    from expbook.registry.gitrepo import GitRepo

    return GitRepo(repo)


def _done(done: Done, fmt: str | None) -> None:
    if fmt == "json":
        click.echo(json_text(done.as_dict()), nl=False)
        return
    what = done.version or done.stage or ""
    click.echo(
        f"{done.action} {done.model}{' ' + what if what else ''}: created tag {done.tag} "
        f"on {done.commit[:7]}"
    )
    click.echo("share it with: expbook push (or git push origin " + done.tag + ")")


@click.group(context_settings=CONTEXT_SETTINGS)
def model() -> None:
    """A model registry in git tags, GTO's format: versions, stages, history, bytes.

    \b
    Example:
        expbook model register digits-cnn lr-wd-003      # -> digits-cnn@v0.0.1
        expbook model assign digits-cnn --version v0.0.1 --stage prod
        expbook model get digits-cnn --stage prod -o model.pt
    """


@model.command()
@click.argument("name")
@click.argument("exp")
@click.option("--version", "version", default=None, help="Explicit SemVer, e.g. v1.0.0.")
@click.option(
    "--bump",
    type=click.Choice(["patch", "minor", "major"]),
    default=None,
    help="Next version after the highest registered one (default: patch; not with --version).",
)
@message_option
@json_option
@repo_option
def register(
    name: str,
    exp: str,
    version: str | None,
    bump: str | None,
    message: str | None,
    fmt: str | None,
    repo: str,
) -> None:
    """Register experiment EXP as the next version of model NAME (a `NAME@vX.Y.Z` tag).

    NAME must be declared in dvc.yaml `artifacts:` at EXP's commit, and its file must be in the
    DVC cache or on the DVC remote.

    \b
    Example:
        expbook model register digits-cnn lr-wd-003 --bump minor
    """
    from expbook.models import actions

    if version is not None and bump is not None:
        raise click.UsageError("give --version or --bump, not both")
    g = _open(repo)
    sha = actions.experiment_commit(g.root, exp)
    _done(
        actions.register(g, name, sha, version=version, bump=bump or "patch", message=message), fmt
    )


@model.command()
@click.argument("name")
@click.option("--version", "version", required=True, help="The version to promote, e.g. v1.0.0.")
@click.option("--stage", "stage", required=True, help="The stage, e.g. prod.")
@click.option("--force", is_flag=True, help="Tag again when the version is in the stage already.")
@click.option(
    "--require-check",
    "rules",
    multiple=True,
    metavar="RULE",
    help="A promotion gate (repeatable): an `expbook check --fail-if` rule, evaluated on the "
    "version's recorded metrics (nothing is re-run); when it holds, or a value is missing, "
    "nothing is written. `ref`: the metric of --against, else of the version in the stage now.",
)
@click.option(
    "--against",
    default=None,
    metavar="EXP",
    help="With --require-check: the reference for `ref` (any name the registry resolves; "
    "default: the version in the stage now, or the version's own metrics when it is empty).",
)
@message_option
@json_option
@repo_option
def assign(
    name: str,
    version: str,
    stage: str,
    force: bool,
    rules: tuple[str, ...],
    against: str | None,
    message: str | None,
    fmt: str | None,
    repo: str,
) -> None:
    """Assign a stage to a registered version (a `NAME#STAGE#N` tag).

    With --require-check, the version's experiment must pass `expbook check`'s rules on its
    recorded metrics first (a CI gate for promotion); a rule that holds refuses the promotion,
    exit 1, and no tag is written.

    \b
    Example:
        expbook model assign digits-cnn --version v0.0.2 --stage prod
        expbook model assign digits-cnn --version v0.0.3 --stage prod \\
            --require-check "test.acc < ref - 0.01" --require-check "test.acc < 0.9"
    """
    from expbook.models import actions, gate

    if against is not None and not rules:
        raise click.UsageError("--against goes with --require-check RULE")
    g = _open(repo)
    checked: list[gate.GateResult] = []
    if rules:
        gate.validate(rules)
        checked_rules = list(rules)

        def run_gate(m: Any, v: Any) -> None:
            checked.append(gate.require(g, m, v, stage, checked_rules, against))

    done = actions.assign(g, name, stage, version, message, force, run_gate if rules else None)
    if fmt == "json":
        data = {**done.as_dict(), **({"checks": checked[0].as_dict()} if checked else {})}
        click.echo(json_text(data), nl=False)
        return
    for result in checked:
        click.echo(f"promotion gate against {result.against}:")
        for line in result.lines():
            click.echo("  " + line)
    _done(done, fmt)


@model.command()
@click.argument("name")
@click.option("--stage", "stage", required=True, help="The stage to take away.")
@click.option("--version", "version", default=None, help="Default: the version in the stage.")
@message_option
@json_option
@repo_option
def unassign(
    name: str, stage: str, version: str | None, message: str | None, fmt: str | None, repo: str
) -> None:
    """Take a stage from a version (a `NAME#STAGE!#N` tag).

    \b
    Example:
        expbook model unassign digits-cnn --stage prod
    """
    from expbook.models import actions

    _done(actions.unassign(_open(repo), name, stage, version, message), fmt)


@model.command()
@click.argument("name")
@click.option("--version", "version", required=True, help="The version to deregister.")
@message_option
@json_option
@repo_option
def deregister(name: str, version: str, message: str | None, fmt: str | None, repo: str) -> None:
    """Deregister a version (a `NAME@vX.Y.Z!#N` tag); its stages no longer resolve to it.

    \b
    Example:
        expbook model deregister digits-cnn --version v0.0.1
    """
    from expbook.models import actions

    _done(actions.deregister(_open(repo), name, version, message), fmt)


@model.command()
@click.argument("name")
@message_option
@json_option
@repo_option
def deprecate(name: str, message: str | None, fmt: str | None, repo: str) -> None:
    """Deprecate a model (a `NAME@deprecated#N` tag); `model list --deprecated` still shows it.

    \b
    Example:
        expbook model deprecate digits-cnn
    """
    from expbook.models import actions

    _done(actions.deprecate(_open(repo), name, message), fmt)


def _list_text(models: list[dict[str, Any]]) -> str:
    from expbook.output.render import escape_control

    if not models:
        return "no models registered yet (expbook model register NAME EXP)\n"
    lines = []
    for m in models:
        stages = ", ".join(f"{s}={v or '-'}" for s, v in m["stages"].items()) or "no stages"
        flag = " (deprecated)" if m["deprecated"] else ""
        lines.append(f"{escape_control(m['model'])}{flag}: latest {m['latest'] or '-'}; {stages}")
        for v in m["versions"]:
            metrics = "  ".join(f"{k}={val:.4g}" for k, val in list(v["metrics"].items())[:4])
            stage = f" [{', '.join(v['stages'])}]" if v["stages"] else ""
            exp = escape_control(v["experiment"] or v["commit"][:7])
            lines.append(f"  {v['version']}{stage}  {exp}  {metrics}".rstrip())
    return "\n".join(lines) + "\n"


@model.command("list")
@click.option("--deprecated", is_flag=True, help="Include deprecated models.")
@json_option
@repo_option
def list_(deprecated: bool, fmt: str | None, repo: str) -> None:
    """List models: latest version, version per stage, key metrics of each version.

    \b
    Example:
        expbook model list --json
    """
    from expbook.models import query

    models = query.listing(_open(repo), deprecated=deprecated)
    click.echo(json_text(models) if fmt == "json" else _list_text(models), nl=False)


@model.command()
@click.argument("name", required=False)
@json_option
@repo_option
def history(name: str | None, fmt: str | None, repo: str) -> None:
    """Every action on a model (or all models), oldest first: who, when, what.

    \b
    Example:
        expbook model history digits-cnn
    """
    from expbook.models import query
    from expbook.output.render import escape_control

    events = query.history(_open(repo), name)
    if fmt == "json":
        click.echo(json_text(events), nl=False)
        return
    if not events:
        click.echo("no model events yet (expbook model register NAME EXP)")
    for e in events:
        what = e["version"] or ""
        if e["stage"]:
            what = f"{e['stage']} ({e['version']})"
        click.echo(
            escape_control(
                f"{e['timestamp']}  {e['model']}  {e['event']:<10} {what:<18} "
                f"{e['commit'][:7]}  {e['author']} <{e['author_email']}>"
            )
        )


@model.command()
@click.argument("name")
@click.option("--version", "version", default=None, help="A version (default: the latest).")
@click.option("--stage", "stage", default=None, help="The version in this stage.")
@json_option
@repo_option
def resolve(name: str, version: str | None, stage: str | None, fmt: str | None, repo: str) -> None:
    """Print the version and commit a stage (or version, or latest) of a model resolves to.

    NAME may be a GTO shortcut: `cnn#prod`, `cnn@v1.0.0`, `cnn@latest`.

    \b
    Example:
        expbook model resolve digits-cnn --stage prod
    """
    from expbook.models import query
    from expbook.models.state import load
    from expbook.registry.modeltags import parse_shortcut

    v = query.resolve(load(_open(repo)), name, version, stage)
    name = parse_shortcut(name)[0]  # `cnn#prod` -> cnn
    if fmt == "json":
        info = {"model": name, "version": v.name, "commit": v.commit, "stages": v.stages()}
        click.echo(json_text(info), nl=False)
    else:
        click.echo(f"{name}@{v.name} {v.commit}")


@model.command()
@click.argument("name")
@click.option("--version", "version", default=None, help="A version (default: the latest).")
@click.option("--stage", "stage", default=None, help="The version in this stage.")
@click.option(
    "-o", "--out", "--output", "out", required=True, help="Where to write the bytes (- for stdout)."
)
@json_option
@repo_option
def get(
    name: str, version: str | None, stage: str | None, out: str, fmt: str | None, repo: str
) -> None:
    """Write a model version's artifact bytes (from the DVC cache or remote) to -o PATH.

    NAME may be a GTO shortcut: `cnn#prod`, `cnn@v1.0.0`, `cnn@latest`.

    \b
    Example:
        expbook model get digits-cnn --stage prod -o model.pt
    """
    from expbook.models import artifacts, query
    from expbook.models.state import load
    from expbook.registry.modeltags import parse_shortcut

    g = _open(repo)
    v = query.resolve(load(g), name, version, stage)
    name = parse_shortcut(name)[0]  # `cnn#prod` -> cnn
    art = artifacts.declared(g, v.commit, name)
    source = artifacts.fetch(g.root, v.commit, art, out)
    info = {
        "model": name,
        "version": v.name,
        "commit": v.commit,
        "path": art.path,
        "out": out,
        "source": source,
    }
    to_err = out == "-"  # the bytes went to stdout: the summary goes to stderr
    if fmt == "json":
        click.echo(json_text(info), nl=False, err=to_err)
    else:
        where = "stdout" if to_err else out
        summary = f"{name}@{v.name} ({art.path} of {v.commit[:7]}) -> {where} (from the {source})"
        click.echo(summary, err=to_err)
