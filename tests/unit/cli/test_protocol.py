"""The runner's progress messages reach the command as they are sent, not when the run ends:
a runner `Session` on one end of a socket pair, the command's conversation on the other."""

from __future__ import annotations

import logging
import socket
import threading
import time

from leads_import.cli import client
from leads_import.cli.progress import PlainProgress
from leads_import.cli.runner import Session


def _wait_for(check, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return False


def test_each_progress_message_arrives_while_the_run_goes_on() -> None:
    runner_end, command_end = socket.socketpair()
    talk = client._Conversation(show_progress=True)
    seen: list[str] = []

    def run() -> None:  # the runner's side: each step waits until the command has seen it
        request = runner_end.makefile("rb").readline()
        assert request.startswith(b"{")
        session = Session(runner_end, logging.WARNING, progress=True)
        session.send({"type": "accepted"})
        session.phase("opening leads.csv")
        seen.append("phase" if _wait_for(lambda: talk.display is not None) else "late")
        session.set_total(1000)
        session.read_bytes(0, 4000)
        session.phase(None)
        session.read_bytes(1000, 4000)
        session.advance("read", 250)
        arrived = _wait_for(lambda: talk.display.state.bytes_done == 1000)
        seen.append("bytes" if arrived else "late")
        session.advance("written", 250)
        arrived = _wait_for(lambda: talk.display.state.rows["written"] == 250)
        seen.append("written" if arrived else "late")
        session.send({"type": "result", "report": {}, "flowRunId": None, "flowRunUrl": None})

    sender = threading.Thread(target=run)
    sender.start()
    try:
        answer = talk.exchange(command_end, {"op": "import"})
        display = talk.display
    finally:
        talk.close()
        sender.join()
        runner_end.close()
        command_end.close()
    assert seen == ["phase", "bytes", "written"]
    assert answer is not None and answer["type"] == "result"
    assert isinstance(display, PlainProgress)  # stderr is not a terminal under pytest
    state = display.state
    assert (state.total_rows, state.bytes_total, state.rows["read"]) == (1000, 4000, 250)
    assert state.current_phase is None


def test_a_quiet_command_asks_for_no_progress_and_draws_none() -> None:
    runner_end, command_end = socket.socketpair()
    quiet = Session(runner_end, logging.WARNING, progress=False)
    quiet.phase("committing")
    quiet.read_bytes(1, 2)
    quiet.send({"type": "result"})
    talk = client._Conversation(show_progress=False)
    answer = talk.exchange(command_end, {"op": "import"})
    runner_end.close()
    command_end.close()
    assert answer == {"type": "result"} and talk.display is None
