"""`leads import` through the import runner: check what needs no data, hand the request to the
warm runner (starting the background services when none answers), draw its progress, print its
report. Imports nothing heavy: the command itself stays a fraction of a second."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from leads_import.cli import output, protocol
from leads_import.cli.services import (
    Layout,
    PrefectServer,
    ServiceError,
    code_fingerprint,
    connect,
    ensure_services,
    runner_key,
    running_server,
)
from leads_import.errors import InvalidMappingError, UnreadableSourceError, check_outcomes_path
from leads_import.readers.formats import check_readable, detect_format
from transforms.fields import API_TO_COLUMN, CUSTOM_FIELDS_API, MAP_TARGETS, map_target

EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130


def _is_url(source: str) -> bool:
    return urlsplit(source).scheme.lower() in ("http", "https")


def check_source(args: argparse.Namespace) -> None:
    """The request-level errors the command tells without the runner (as the flow would)."""
    if args.commit_every is not None and args.commit_every < 1:
        raise UnreadableSourceError("--commit-every must be a positive number of rows")
    parse_map(args.map)
    if args.source == "-":
        if args.format is None:
            raise UnreadableSourceError("reading standard input (-) needs --format")
    elif not _is_url(args.source):
        path = Path(args.source)
        check_readable(path)
        detect_format(path, args.format)
    check_outcomes_path(args.outcomes)


def parse_map(values: list[str] | None) -> dict[str, str] | None:
    """`--map HEADER=field` options as the flow's `map` (a later one for a header wins);
    InvalidMappingError naming the valid fields for a malformed one."""
    if not values:
        return None
    fields = [*API_TO_COLUMN, f"{CUSTOM_FIELDS_API}.<key>"]
    mapping: dict[str, str] = {}
    for value in values:
        header, equals, target = value.rpartition("=")
        if not equals or not header.strip() or not target.strip():
            raise InvalidMappingError(
                f"--map {value!r}: expected HEADER=FIELD, where FIELD is one of {MAP_TARGETS}",
                fields,
            )
        try:
            mapping[header] = map_target(target)
        except ValueError as error:
            raise InvalidMappingError(f"--map {value!r}: {error}", fields) from None
    return mapping


def _spool_stdin(layout: Layout, fmt: str) -> Path:
    """Standard input copied to a private file the runner can read."""
    layout.make()
    path = layout.spool / f"stdin-{os.getpid()}-{os.urandom(4).hex()}.{fmt}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as spool:
        while block := sys.stdin.buffer.read(1 << 20):
            spool.write(block)
    return path


def request_fields(args: argparse.Namespace, source: str) -> dict[str, Any]:
    """The flow's parameters (FileImport) for `leads import` ARGS reading `source`."""
    return {
        "source": source,
        "workspace": args.workspace,
        "restore_soft_deleted": not args.no_restore,
        "dry_run": args.dry_run,
        "format": args.format,
        "sheet": args.sheet,
        "map": parse_map(args.map),
        "unknown_columns": args.unknown_columns,
        "commit_every": args.commit_every,
        "outcomes": os.path.abspath(args.outcomes) if args.outcomes else None,
        "keep_outcomes": args.keep_outcomes,
        "on_existing": args.on_existing,
        "idempotency_key": args.idempotency_key,
    }


def log_level() -> int:
    """The lowest level of a run's log lines shown on stderr: warnings, unless the user set
    PREFECT_LOGGING_LEVEL (INFO lines would tear the live display; the progress display tells
    what they would, and every line is in the run's logs in the Prefect UI)."""
    level = logging.getLevelName(os.environ.get("PREFECT_LOGGING_LEVEL", "WARNING").upper())
    return level if isinstance(level, int) else logging.WARNING


class _Conversation:
    """One request to the runner and what comes back."""

    def __init__(self, show_progress: bool) -> None:
        self.show_progress = show_progress
        self.display: Any = None

    def _display(self) -> Any:
        if self.display is None and self.show_progress:
            from leads_import.cli.progress import display_for

            self.display = display_for(sys.stderr).__enter__()
        return self.display

    def close(self, *, succeeded: bool = False) -> None:
        """Close the display: kept on the terminal after a run that succeeded."""
        if self.display is not None:
            if not succeeded:
                self.display.discard()
            self.display.__exit__(None, None, None)
            self.display = None

    def exchange(self, sock: socket.socket, message: dict[str, Any]) -> dict[str, Any] | None:
        """The runner's final answer; None when it asks for a new runner, or went away before
        accepting the request (it did not run it: asking another runner is safe)."""
        accepted = False
        try:
            protocol.send(sock, message)
            with sock.makefile("rb") as stream:
                for received in protocol.messages(stream):
                    kind = received.get("type")
                    if kind == "stale":
                        return None
                    if kind in protocol.FINAL:
                        return received
                    if kind == "accepted":
                        accepted = True
                    else:
                        self._event(received)
        except (OSError, ValueError):
            pass
        if not accepted:
            return None
        raise ServiceError("the import runner stopped during the run")

    def _event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "log":
            display = self._display()
            if display is not None:
                display.log(event["text"])
            else:
                print(event["text"], file=sys.stderr, flush=True)
        elif self._display() is not None:
            self.display.state.event(event)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _ask_runner(layout: Layout, message: dict[str, Any], talk: _Conversation) -> dict[str, Any]:
    key, fingerprint = message["key"], message["fingerprint"]
    server: PrefectServer | None = running_server(layout)
    sock = connect(layout.runner_socket(key)) if server is not None else None
    for attempt in range(3):
        if sock is None or server is None:
            server = ensure_services(layout, key, fingerprint, _say, replace_runner=attempt > 0)
            sock = connect(layout.runner_socket(key))
            if sock is None:
                continue  # it exited meanwhile (idle, memory): start another
        message["prefect"] = server.api_url
        try:
            answer = talk.exchange(sock, message)
        finally:
            sock.close()
        if answer is not None:
            return answer
        sock = None
    raise ServiceError("the import runner does not answer")


def run_import(args: argparse.Namespace) -> int:
    """`leads import` through the runner; request-level errors found here are raised."""
    check_source(args)
    layout = Layout.current()
    spooled = _spool_stdin(layout, args.format) if args.source == "-" else None
    source = str(spooled) if spooled else args.source
    if spooled is None and not _is_url(source):
        source = os.path.abspath(source)
    show_progress = not args.quiet
    message = {
        "op": "import",
        "key": runner_key(),
        "fingerprint": code_fingerprint(),
        "request": request_fields(args, source),
        "progress": show_progress,
        "logLevel": log_level(),
    }
    talk = _Conversation(show_progress)
    try:
        answer = _ask_runner(layout, message, talk)
    except ServiceError as error:
        talk.close()
        _say(f"error: {error} (LEADS_RUNNER=off imports without background services)")
        if args.json:
            print(json.dumps({"error": str(error), "code": "service_unavailable", "details": {}}))
        return EXIT_FAILURE
    except KeyboardInterrupt:
        talk.close()
        _say("interrupted: the run was cancelled")
        return EXIT_INTERRUPTED
    else:
        talk.close(succeeded=answer.get("type") == "result")
    finally:
        talk.close()
        if spooled is not None:
            with contextlib.suppress(OSError):
                spooled.unlink()
    return _print_answer(args, answer)


def _print_answer(args: argparse.Namespace, answer: dict[str, Any]) -> int:
    link = answer.get("flowRunUrl")
    kind = answer.get("type")
    if kind == "result":
        report = answer["report"]
        report["source"] = args.source
        if args.json:
            print(json.dumps(report))
        else:
            output.print_summary(report)
        code = 0
    elif kind == "error":
        output.print_error(answer["message"], answer["code"], answer["details"], args.json)
        code = int(answer["exitCode"])
    else:
        message = answer.get("message") or "the import failed"
        output.print_error(message, "unexpected_error", {}, args.json)
        code = EXIT_FAILURE
    sys.stdout.flush()
    if link:
        _say(f"Prefect UI: {link}")
    return code
