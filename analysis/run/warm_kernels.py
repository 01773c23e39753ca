"""Notebook kernels forked from a process that has already imported the analysis package.

A kernel started the ordinary way spends about three seconds before the notebook's first line
does any work: the interpreter starts, ipykernel and IPython load, and the notebook's first cell
imports the package (numpy, pandas, SciPy, statsmodels, lifelines, matplotlib). Seven notebooks
per run make that about 20 CPU seconds, a third of a run on the shipped cohort. The runner
therefore starts one *warm process* (this module run as ``python -m``) that imports all of that
once, while the cohort is being prepared, and then forks it into each kernel.

How a kernel is started (:func:`kernel_manager_class`):

1. The kernel manager (Jupyter's own, through papermill) runs the stand-in
   :mod:`analysis.run.warm_kernel_launcher` instead of the kernel command.
2. The stand-in sends the warm process its standard streams, working directory, environment
   and the kernel command over a Unix socket.
3. The warm process forks. The child takes the streams, directory and environment, and becomes
   the kernel (``ipykernel``'s application, as ``python -m ipykernel_launcher`` would run it).
4. The stand-in passes signals on and exits with the kernel's status, so Jupyter's polling,
   interrupts and shutdown work unchanged.

What is and is not shared. The child has the imported modules and nothing else: the warm
process imports, creates no thread, no ZeroMQ context and no event loop, and the kernel is made
after the fork. Each child starts from the same imported state, so a notebook cannot see
another's. A module reads the environment when it is imported only for the BLAS thread count,
the matplotlib backend and the interpreter's own ``PYTHON*`` settings: a child whose environment
differs from the warm process's in any of those is declined, and the kernel starts cold.
Anything that goes wrong (no warm process, a kernel other than ipykernel's, another interpreter,
a platform without ``fork``) also means a cold start, never a failed run. The tables and figures
are the same bytes either way (``tests/test_runner.py`` runs the suite both ways).

The socket lives in a folder of the user's own (``tempfile.mkdtemp``, mode 0700), so no other
user can ask for a kernel or read the environment a stand-in sends. Only Linux is used: macOS
forbids forking a process that has used some system frameworks.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PRELOADED", "WarmKernels", "kernel_manager_class", "warm_kernels"]

#: Modules the warm process imports (each notebook's first cell imports one of the study modules).
PRELOADED = (
    "ipykernel.kernelapp",
    "analysis.study.s01_cohort",
    "analysis.study.s02_immune_landscape",
    "analysis.study.s03_outcomes_logistic",
    "analysis.study.s04_time_to_live_birth",
    "analysis.study.s05_treatment_effects",
    "analysis.study.s06_biomarkers",
    "analysis.study.s07_safety",
)

LAUNCHER = Path(__file__).with_name("warm_kernel_launcher.py")
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"  # what ipykernel sets when MPLBACKEND is unset
_BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def _read_at_import(env: dict[str, str]) -> dict[str, str]:
    """The environment variables that imported modules have already read: they must agree."""
    keep = {k: v for k, v in env.items() if k.startswith("PYTHON") or k in _BLAS_VARIABLES or k == "MPLCONFIGDIR"}
    keep["MPLBACKEND"] = env.get("MPLBACKEND") or INLINE_BACKEND
    return keep


def _split_command(argv: list[str]) -> tuple[list[str], list[str]] | None:
    """Split ``[python, *options, "-m", "ipykernel_launcher", *arguments]`` into
    ``([python, *options], arguments)``; None for any other command."""
    try:
        at = argv.index("ipykernel_launcher")
    except ValueError:
        return None
    if at < 2 or argv[at - 1] != "-m":
        return None
    return list(argv[: at - 1]), list(argv[at + 1 :])


def _kernel_prefix(argv: list[str]) -> list[str] | None:
    """The interpreter and its options of an ipykernel kernel spec (``[python, *options]``), or None."""
    split = _split_command(argv)
    if split is None or "{connection_file}" not in split[1]:
        return None
    prefix = split[0]
    if prefix[0] in ("python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])):
        prefix[0] = sys.executable  # as Jupyter's kernel manager reads a bare "python"
    return prefix


def kernel_manager_class(socket_path: str, *, asynchronous: bool = True) -> type:
    """Return a Jupyter kernel manager class whose kernels come from the warm process at ``socket_path``.

    Passed to papermill as ``kernel_manager_class`` (asynchronous, as nbclient's own default);
    the kernel command is prefixed with the stand-in (:mod:`analysis.run.warm_kernel_launcher`),
    which falls back to the command itself.
    """
    from jupyter_client.manager import AsyncKernelManager, KernelManager

    class WarmKernelManager(AsyncKernelManager if asynchronous else KernelManager):
        def format_kernel_cmd(self, extra_arguments=None):
            command = super().format_kernel_cmd(extra_arguments)
            return [sys.executable, "-I", "-S", str(LAUNCHER), socket_path, *command]

    return WarmKernelManager


@dataclass(frozen=True)
class WarmKernels:
    """The running warm process, as :func:`warm_kernels` yields it.

    Attributes
    ----------
    manager_class : type
        Kernel manager for papermill (:func:`kernel_manager_class`).
    socket_path : str
        Where the stand-ins reach the warm process.
    log : Path
        One line per kernel the warm process forked (written before the kernel starts).
    """

    manager_class: type
    socket_path: str
    log: Path

    def forked(self) -> int:
        """Return how many kernels the warm process has forked so far (the others started cold)."""
        try:
            return len(self.log.read_text().splitlines())
        except FileNotFoundError:
            return 0


@contextlib.contextmanager
def warm_kernels(
    kernel_name: str, *, enabled: bool = True, environment: dict[str, str] | None = None
) -> Iterator[WarmKernels | None]:
    """Start the warm process for kernels of ``kernel_name``; yield it (:class:`WarmKernels`), or None.

    None (start kernels the ordinary way) when disabled, off Linux, or for a kernel spec that is
    not ``python … -m ipykernel_launcher -f {connection_file}``. The warm process is started
    here and imports in the background; kernels asked for before it is ready wait for it. It is
    stopped on leaving, with any kernel it forked that still runs.

    Parameters
    ----------
    kernel_name : str
        The Jupyter kernel the notebooks are executed with.
    enabled : bool
        False: always None.
    environment : dict of str to str, optional
        Variables the kernels will be started with beyond this process's environment (the BLAS
        thread count): the warm process imports with them.
    """
    spec = _kernel_spec(kernel_name) if enabled and sys.platform == "linux" else None
    prefix = _kernel_prefix(spec.argv) if spec is not None else None
    if prefix is None:
        yield None
        return
    folder = tempfile.mkdtemp(prefix="warm-kernels-")
    path = os.path.join(folder, "socket")
    log = os.path.join(folder, "forked")
    env = {**os.environ, **(spec.env or {}), **(environment or {})}
    env.update(_read_at_import(env))
    # bound and listening here, so a kernel asked for at once waits in the queue for the imports
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(16)
    with listener:
        process = subprocess.Popen(
            [*prefix, "-m", "analysis.run.warm_kernels", str(listener.fileno()), json.dumps(prefix), log],
            stdin=subprocess.PIPE,  # its end tells the warm process that this one has gone, however
            env=env,
            pass_fds=[listener.fileno()],
            start_new_session=True,  # a Ctrl-C at the terminal reaches the runner, which stops it
        )
    try:
        yield WarmKernels(kernel_manager_class(path), path, Path(log))
    finally:
        process.terminate()  # it stops the kernels it forked that still run, then exits
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdin.close()
        shutil.rmtree(folder, ignore_errors=True)


def _kernel_spec(kernel_name: str):
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        return KernelSpecManager().get_kernel_spec(kernel_name)
    except NoSuchKernel:
        return None


# --------------------------------------------------------------------------------------------
# the warm process
# --------------------------------------------------------------------------------------------


def _serve(listening: int, prefix: list[str], log: str) -> None:
    """Import, then fork a kernel for every stand-in that asks, until standard input ends.

    ``listening`` is the descriptor of the socket the runner bound (stand-ins that come before
    the imports finish wait in its queue); ``prefix`` the interpreter and options this process
    was started with, as the kernel spec gives them: a request for another interpreter is declined;
    ``log`` the file that gets a line per kernel forked.
    """
    signal.signal(signal.SIGTERM, _stop)
    listener = socket.socket(fileno=listening)
    imported = _read_at_import(dict(os.environ))
    ready = True
    try:
        import importlib

        for name in PRELOADED:
            importlib.import_module(name)
    except Exception as exc:  # never a failed run: every kernel starts cold
        print(f"warm kernels: importing failed ({type(exc).__name__}: {exc}); kernels start cold", file=sys.stderr)
        ready = False
    waiting: dict[int, socket.socket] = {}  # kernel pid -> its stand-in's socket
    try:
        while True:
            readable, _, _ = select.select([listener, sys.stdin], [], [], 0.05)
            if sys.stdin in readable and not os.read(sys.stdin.fileno(), 4096):
                break
            if listener in readable:
                channel, _ = listener.accept()
                pid = _fork_kernel(channel, prefix, imported, waiting, listener, log) if ready else None
                if pid is None:
                    with contextlib.suppress(OSError):
                        channel.send(b"declined")
                    channel.close()
                else:
                    waiting[pid] = channel
            _report_exits(waiting)
    finally:
        for pid in waiting:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        listener.close()
        os._exit(0)  # nothing to tear down but the imports: skip the interpreter's half second of it


def _stop(number, frame) -> None:
    raise SystemExit(0)


def _fork_kernel(channel, prefix, imported, waiting, listener, log) -> int | None:
    """Fork a kernel for the request on ``channel``; return its pid, or None to decline."""
    try:
        message, fds, _, _ = socket.recv_fds(channel, 1 << 20, 4)
        request = json.loads(message)
    except (OSError, ValueError):
        return None
    env = request["env"]
    split = _split_command(request["argv"])
    suitable = (
        len(fds) == 4
        and split is not None
        and split[0] == prefix
        and _read_at_import(env) == imported
        and threading.active_count() == 1
    )
    if not suitable:
        for fd in fds:
            os.close(fd)
        return None
    pid = os.fork()
    if pid == 0:  # the kernel
        code = 1
        try:
            listener.close()
            for other in waiting.values():
                other.close()
            channel.close()
            _become_kernel(fds, split[1], request["cwd"], env)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            _exit(code)
    for fd in fds:
        os.close(fd)
    with open(log, "a") as out:
        out.write(f"{pid}\n")
    channel.send(f"pid {pid}".encode())
    return pid


def _exit(code: int) -> None:
    """End the kernel as an interpreter ends (exit handlers, flushed streams), never returning to the loop."""
    try:
        import atexit

        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def _become_kernel(fds: list[int], arguments: list[str], cwd: str, env: dict[str, str]) -> None:
    """In the forked child: take the stand-in's streams, directory and environment; run the kernel."""
    os.setsid()
    for target, fd in zip((0, 1, 2), fds[:3]):
        os.dup2(fd, target)
        os.close(fd)
    guard = fds[3]
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    here = os.path.abspath(os.getcwd())
    sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) != here]  # as ipykernel_launcher does
    threading.Thread(target=_exit_with_stand_in, args=(guard,), daemon=True, name="warm-kernel-guard").start()
    # ipykernel read JPY_PARENT_PID when the warm process imported it (unset then): name the
    # parent here, so the kernel watches it (and stays quiet) as a kernel Jupyter started does
    sys.argv = ["ipykernel_launcher", *arguments, f"--IPKernelApp.parent_handle={os.getppid()}"]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


def _exit_with_stand_in(guard: int) -> None:
    """Wait on the stand-in's pipe; when the stand-in has gone (killed, say), end the kernel."""
    while os.read(guard, 1):
        pass
    os._exit(1)


def _report_exits(waiting: dict[int, socket.socket]) -> None:
    """Tell each ended kernel's stand-in its exit status."""
    while waiting:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        channel = waiting.pop(pid, None)
        if channel is not None:
            with contextlib.suppress(OSError):
                channel.send(f"exit {os.waitstatus_to_exitcode(status)}".encode())
            channel.close()


if __name__ == "__main__":
    _serve(int(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3])
