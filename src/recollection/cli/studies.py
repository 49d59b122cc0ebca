"""`recollect run` and `recollect report`: experiment studies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from .common import app, err, out, user_errors

@app.command("run")
@user_errors
def run_cmd(
    study_file: Annotated[Path, typer.Argument(metavar="FILE.toml", help="The experiment file (see experiments/*.toml).",
                                               show_default=False)],
    out_dir: Annotated[Optional[Path], typer.Option("--out", "-o", help="Results directory (default results/<study name>); "
                                                    "rerunning into it resumes the study.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Parallel worker processes (default: one per CPU; 1 runs "
                                                   "in this process).", min=1)] = None,
    ray: Annotated[Optional[str], typer.Option(help="Run on Ray: local (start one here), auto (join the running "
                                               "cluster), or HOST:PORT. Needs the ray extra.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override one entry, e.g. --set params.model="
                                                      "'\"digits\"' or --set grid.source='[\"class\"]' (repeatable).")] = None,
    plan: Annotated[bool, typer.Option("--plan", help="Only check the points and say how many there are and how many "
                                                      "are done.")] = False,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Leave out the points that cannot run on this "
                                               "data or model (e.g. random:9 in a model with 8 layers) instead of "
                                               "stopping; the report lists them.")] = False,
    report: Annotated[bool, typer.Option("--report/--no-report", help="Write report.html and report.md at the end.")] = True,
) -> None:
    """Run a study: every point of its grid, in parallel, resumably (a rerun skips finished points)."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from ..experiments.runner import done_count, name_invalid, run_study
    from ..experiments.study import load_study

    study = load_study(study_file, set_ or [])
    target = out_dir or Path("results") / study.name
    if plan:
        found, done = done_count(study, target, notice)
        out.print(f"{study.name}: {len(found.points)} points ({done} done in {target}); varying: "
                  f"{', '.join(study.varying()) or 'nothing'}", highlight=False)
        if found.invalid:
            err.print(f"[yellow]warning:[/] {escape(found.invalid_line(study))}", highlight=False)
        return
    start = time.perf_counter()
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TextColumn("ETA"), TimeRemainingColumn(), console=err)
    task = progress.add_task(study.name, total=None)

    def on_start(total: int, pending: int) -> None:  # the bar appears once the points are checked and the lock held
        progress.update(task, total=pending, description=f"{study.name} ({total - pending} of {total} already done)")
        progress.start()

    try:
        summary = run_study(study, target, workers=workers, ray=ray, overrides=set_ or [], skip_invalid=skip_invalid,
                            progress=lambda n: progress.advance(task, n), on_start=on_start, notice=notice)
    except KeyboardInterrupt as e:
        reason = str(e) or "interrupted"
        err.print(f"[bold red]{escape(reason)}:[/] the points finished so far are kept in {escape(str(target))}; "
                  "rerun the same command to resume", highlight=False)
        raise typer.Exit(143 if "SIGTERM" in reason else 130) from None
    finally:
        progress.stop()
    elapsed = time.perf_counter() - start
    out.print(f"{study.name}: {summary.done} points run, {summary.skipped} already done, {len(summary.failures)} failed "
              f"({elapsed:.1f} s, {summary.backend}); results in {target / 'results.csv'}", highlight=False)
    if summary.invalid:
        left = sum(g.points for g in summary.invalid)
        err.print(f"[yellow]left out[/] {left} points that cannot run (--skip-invalid): "
                  + escape(name_invalid(summary.invalid)), highlight=False)
    if report:
        from ..experiments.report import write_report

        page, _ = write_report(target, notice)
        out.print(f"report: {page}", highlight=False)
    if summary.failures:
        for r in summary.failures[:10]:
            params = ", ".join(f"{k}={v}" for k, v in r["params"].items() if k in study.varying())
            err.print(f"[red]failed[/] {escape(params or r['hash'])}: {escape(r['error'])}", highlight=False)
        if len(summary.failures) > 10:
            err.print(f"… and {len(summary.failures) - 10} more (column error of results.csv)")
        if summary.config_failures:
            err.print(f"{len(summary.config_failures)} of {summary.total} points failed on their configuration: a rerun "
                      "fails the same way; fix the study", highlight=False)
        if summary.crashes:
            err.print(f"{len(summary.crashes)} of {summary.total} points failed while running; rerun the same command "
                      "to retry them", highlight=False)
        raise typer.Exit(1)


def notice(message: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(message)}", highlight=False)


@app.command("report")
@user_errors
def report_cmd(
    results_dir: Annotated[Path, typer.Argument(metavar="RESULTS_DIR", help="A directory written by `recollect run`.",
                                                show_default=False)],
) -> None:
    """Write report.html (self-contained, figures embedded) and report.md for a study's results."""
    from ..experiments.report import write_report

    page, summary = write_report(results_dir, notice)
    out.print(f"wrote {page} and {summary}", highlight=False)

