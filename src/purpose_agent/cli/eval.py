"""`purpose-agent eval FILE`: run a question set against a live service and score its answers.

Exit codes, so that a script or CI can tell the cases apart: 0 every threshold met, 1 a threshold
missed, 2 the question set is invalid or names an unknown agent (nothing was asked), 3 the service is
unreachable or is not Purpose-Agent, 4 the service refused the API key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from purpose_agent.evaluation.client import KeyRefused, ServiceClient, ServiceUnreachable
from purpose_agent.evaluation.questions import QuestionSetInvalid, read_question_set
from purpose_agent.evaluation.report import Table, as_json, summary_lines
from purpose_agent.evaluation.running import check_agents, run
from purpose_agent.evaluation.scoring import Thresholds, summarise, unmet

EXIT_BELOW_THRESHOLD = 1
EXIT_INVALID = 2
EXIT_UNREACHABLE = 3
EXIT_KEY_REFUSED = 4
DEFAULT_URL = "http://127.0.0.1:8000"


def _minimum(metric: str) -> Any:  # typer.Option is typed as returning Any
    return typer.Option(min=0.0, max=1.0, show_default=False, help=f"Exit 1 when {metric} is below this.")


def _stop(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=code)


def evaluate(
    file: Annotated[Path, typer.Argument(help='A question set {"questions": [...]}, JSON or YAML (.yaml).')],
    url: Annotated[str, typer.Option(help="The service's base URL.")] = DEFAULT_URL,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="PURPOSE_AGENT_API_KEY",
            show_default=False,
            help="An API key (`make run` prints one on its first start; `purpose-agent keys create`).",
        ),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write every result as JSON to this file.")
    ] = None,
    min_hit_at_1: Annotated[float | None, _minimum("citation hit@1")] = None,
    min_hit_at_5: Annotated[float | None, _minimum("citation hit@5")] = None,
    min_abstention: Annotated[float | None, _minimum("the share of correct abstentions")] = None,
    min_grounded: Annotated[float | None, _minimum("the share of grounded answers")] = None,
    max_p95_ms: Annotated[
        float | None, typer.Option(min=0.0, show_default=False, help="Exit 1 when latency p95 is above this.")
    ] = None,
    timeout: Annotated[float, typer.Option(min=1.0, help="Seconds to wait for one answer.")] = 300.0,
) -> None:
    """Ask each question of FILE and print citation hit@1/hit@5, abstentions, groundedness and latency.

    Exit codes: 1 a threshold missed, 2 an invalid FILE or unknown agent, 3 unreachable, 4 key refused.
    """
    try:
        question_set = read_question_set(file)
    except QuestionSetInvalid as exc:
        for line in exc.errors:
            typer.echo(f"error: {line}", err=True)
        raise typer.Exit(code=EXIT_INVALID) from None
    if not api_key:
        raise _stop("give an API key: --api-key or PURPOSE_AGENT_API_KEY", EXIT_INVALID)
    # Checked before the run, which may take minutes, rather than failing to write at its end.
    if json_path is not None and not json_path.parent.is_dir():
        raise _stop(f"--json {json_path}: there is no folder {json_path.parent}", EXIT_INVALID)
    thresholds = Thresholds(min_hit_at_1, min_hit_at_5, min_abstention, min_grounded, max_p95_ms)

    def waiting(seconds: float) -> None:
        typer.echo(f"rate limited: waiting {seconds:g} s as the service asks", err=True)

    table = Table.for_entries(question_set.entries)
    with ServiceClient(url, api_key, timeout=timeout, on_wait=waiting) as client:
        try:
            check_agents(question_set, client)
            typer.echo(table.header())
            results = run(question_set, client, lambda result: typer.echo(table.row(result)))
        except QuestionSetInvalid as exc:
            for line in exc.errors:
                typer.echo(f"error: {line}", err=True)
            raise typer.Exit(code=EXIT_INVALID) from None
        except ServiceUnreachable as exc:
            raise _stop(str(exc), EXIT_UNREACHABLE) from None
        except KeyRefused as exc:
            hint = "check --api-key or PURPOSE_AGENT_API_KEY"
            raise _stop(f"{exc}: {hint}", EXIT_KEY_REFUSED) from None

    summary = summarise(results)
    problems = unmet(summary, thresholds)
    typer.echo("")
    for line in summary_lines(summary, client.url, problems):
        typer.echo(line)
    if json_path is not None:
        document = as_json(question_set.source, client.url, results, summary, thresholds, problems)
        json_path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if problems:
        raise typer.Exit(code=EXIT_BELOW_THRESHOLD)
