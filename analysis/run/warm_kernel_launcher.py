"""Start one Jupyter kernel by asking the warm process for a fork of itself (standard library only).

Run by the runner's kernel manager (:mod:`analysis.run.warm_kernels`) as
``python -I -S warm_kernel_launcher.py SOCKET KERNEL_COMMAND...``: the command a kernel would
have been started with follows the socket of the warm process. This process sends the warm
process its standard streams, working directory, environment and the command; the warm process
forks a child that becomes the kernel. This process then stands in for the kernel towards the
kernel manager, which polls, signals and waits for it as for any kernel process: signals are
passed on to the kernel, and this process exits as the kernel does. When it dies (even by
SIGKILL) the kernel sees the end of a pipe and exits too.

Whenever the warm process cannot be reached or declines, the kernel command is executed in
this process instead: the ordinary, cold start.

Kept free of third-party and package imports so that it starts in milliseconds.
"""

import json
import os
import signal
import socket
import sys

RELAYED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def _forked_kernel(path: str, command: list) -> tuple:
    """Return (socket, pid) of the kernel the warm process forked, or (None, None)."""
    try:
        channel = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        channel.connect(path)
        guard_read, guard_write = os.pipe()  # the kernel's read end sees EOF when this process is gone
        message = json.dumps({"argv": command, "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
        socket.send_fds(channel, [message], [0, 1, 2, guard_read])
        os.close(guard_read)
        reply = channel.recv(256).decode().split()
    except OSError:
        return None, None
    if len(reply) == 2 and reply[0] == "pid":
        return channel, int(reply[1])
    channel.close()
    return None, None


def main(argv: list) -> None:
    path, command = argv[0], argv[1:]
    channel, pid = _forked_kernel(path, command)
    if pid is None:
        os.execv(command[0], command)  # the cold start
    for number in RELAYED:
        signal.signal(number, lambda received, frame: os.kill(pid, received))
    code = 1
    while True:
        words = channel.recv(256).decode().split()
        if not words:  # the warm process is gone: it took its kernels with it
            break
        if words[0] == "exit":
            code = int(words[1])
            break
    if code < 0:  # the kernel died of a signal: so does its stand-in
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    sys.exit(code)


if __name__ == "__main__":
    main(sys.argv[1:])
