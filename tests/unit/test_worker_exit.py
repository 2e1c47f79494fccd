"""The worker's exit code: a clean stop is 0 (and the embedded services stop after it), a crash
keeps Faust's non-zero code, which restart policies (systemd, compose, Kubernetes) go by."""

from __future__ import annotations

import pytest

from app.cli import run_until_stopped


class Worker:
    def __init__(self, code: int | None):
        self.code = code

    def execute_from_commandline(self) -> None:
        raise SystemExit(self.code)


@pytest.mark.parametrize("code", [None, 0])
def test_a_clean_stop_returns(code):
    run_until_stopped(Worker(code))


def test_a_crash_keeps_its_exit_code():
    with pytest.raises(SystemExit) as stop:
        run_until_stopped(Worker(1))
    assert stop.value.code == 1
