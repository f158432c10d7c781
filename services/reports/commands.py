"""``mission-pulse report`` (the weekly digest) and ``mission-pulse rescore`` (what a candidate model would
change; with --apply, versioned rescoring): their arguments and what they do."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from services.common.logs import configure_logging
from services.common.settings import ClientSettings, CommonSettings
from services.domain.scoring_model import ScoringModel


def add_report_commands(commands: Any) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """``report`` and ``rescore`` on the ``mission-pulse`` command; the two parsers."""
    report = commands.add_parser(
        "report", help="the weekly digest of the Mission Experience report (the read scope: MP_READ_TOKEN)"
    )
    report.add_argument(
        "--week", action="store_true", required=True, help="the last 7 days against the 7 before"
    )
    report.add_argument("--ending", help="the first day after the week (YYYY-MM-DD, UTC); default tomorrow")
    report.add_argument("--format", choices=("md", "html"), default="md", help="Markdown (default) or HTML")
    report.add_argument("--output", help="write it to this file instead of printing it")
    rescore = commands.add_parser(
        "rescore", help="what a candidate scoring model would change, replayed from the retained touchpoints"
    )
    rescore.add_argument(
        "--model", required=True, help="the candidate scoring model (TOML, like scoring.toml)"
    )
    rescore.add_argument("--since", help="only touchpoints written this long ago or later: 30d, 12h, 90m")
    rescore.add_argument("--format", choices=("md", "json"), default="md", help="Markdown (default) or JSON")
    rescore.add_argument("--output", help="write it to this file instead of printing it")
    rescore.add_argument("--quiet", action="store_true", help="no progress bar")
    rescore.add_argument(
        "--apply",
        action="store_true",
        help="rebuild every person with the candidate into new topics, then make it the live version",
    )
    rescore.add_argument(
        "--print-env",
        action="store_true",
        help="the settings of the candidate's scorer, to deploy it yourself",
    )
    rescore.add_argument(
        "--log-dir", default=".run", help="where --apply writes its scorer's log and pid (default .run)"
    )
    return report, rescore


def report_command(args: argparse.Namespace) -> None:
    """The weekly digest of the Mission Experience report, from the API."""
    from datetime import UTC, date, datetime, timedelta

    from services.reports.client import ReportUnavailable, two_weeks
    from services.reports.digest import digest, render

    # the week up to and including today, unless told otherwise
    ending = date.fromisoformat(args.ending) if args.ending else datetime.now(UTC).date() + timedelta(days=1)
    try:
        this, last = two_weeks(args.api_url, ClientSettings().read_secret(), ending)
    except ReportUnavailable as error:
        raise SystemExit(f"report: {error}") from None
    document = render(digest(this, last), args.format)
    if args.output:
        Path(args.output).write_text(document)
        print(f"the digest of {this.start} to {this.end} is in {args.output}")
    else:
        print(document, end="")


def rescore_command(args: argparse.Namespace) -> None:
    """What a candidate scoring model would change, from the retained touchpoints; nothing published.
    With --apply: the candidate rebuilt into topics of its own, then made the live version."""
    import time

    import orjson

    from services.common.config_files import load_scoring_model
    from services.domain.whatif import WhatIf, to_markdown
    from services.reports.rescore import replay_touchpoints

    settings = CommonSettings()
    configure_logging("rescore", "WARNING")
    live, candidate = load_scoring_model(settings.scoring_config), load_scoring_model(Path(args.model))
    if args.apply or args.print_env:
        _apply(settings, live, candidate, Path(args.model), args)
        return
    since = None if args.since is None else time.time() - _duration_s(args.since)
    whatif = WhatIf(live, candidate)
    asyncio.run(replay_touchpoints(settings, whatif, since, progress=not args.quiet))
    result = whatif.compare()
    text = (
        orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n"
        if args.format == "json"
        else to_markdown(result, settings.scoring_config.name, Path(args.model).name)
    )
    if args.output:
        Path(args.output).write_text(text)
        print(f"the comparison is in {args.output}", file=sys.stderr)
    else:
        print(text, end="")


def _apply(
    settings: CommonSettings, live: ScoringModel, model: ScoringModel, path: Path, args: argparse.Namespace
) -> None:
    from services.reports.apply import Candidate, apply_candidate

    candidate = Candidate.of(settings, model, path, Path(args.log_dir))
    if args.print_env:  # to run the candidate's scorer elsewhere (a deployment of its own)
        print("".join(f"{name}={value}\n" for name, value in candidate.env.items()), end="")
        return
    Path(args.log_dir).mkdir(parents=True, exist_ok=True)
    print(asyncio.run(apply_candidate(settings, live, candidate, Path(args.log_dir), not args.quiet)))


def _duration_s(text: str) -> float:
    """``30d``, ``12h`` or ``90m`` in seconds; SystemExit with the reason otherwise."""
    units = {"d": 86400.0, "h": 3600.0, "m": 60.0}
    try:
        return float(text[:-1]) * units[text[-1]]
    except (KeyError, ValueError, IndexError):
        raise SystemExit(
            f"--since {text!r}: give a number of days, hours or minutes, e.g. 30d, 12h, 90m"
        ) from None
