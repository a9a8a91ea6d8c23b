"""The installed `scoreledger` command run as a person runs it: in a pseudo-terminal, answering its prompt."""

from __future__ import annotations

import os
import pty
import select
import signal
import sys
from pathlib import Path

# The console script of the environment running the tests (the editable install of `make install`).
SCORELEDGER = str(Path(sys.executable).parent / "scoreledger")


def in_terminal(args: list[str], answer: str | None = None, timeout: float = 60) -> tuple[int, str]:
    """Run `scoreledger ARGS` with a terminal as stdin/stdout; type `answer` at its [y/N] prompt.

    Returns the exit code and everything the terminal showed.
    """
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover (the child)
        os.execv(SCORELEDGER, [SCORELEDGER, *args])
    shown, answered = b"", False
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                os.kill(pid, signal.SIGKILL)
                raise TimeoutError(f"scoreledger {' '.join(args)} showed no more after: {shown.decode()!r}")
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
            if answer is not None and not answered and b"[y/N]" in shown:
                os.write(fd, answer.encode() + b"\n")
                answered = True
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), shown.decode().replace("\r\n", "\n")
