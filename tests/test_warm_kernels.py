"""Kernels forked from the warm process: what they have, what they do not share, and how they end.

A kernel started the ordinary way spends about three seconds starting the interpreter and
importing the package before a notebook's first cell does any work; the runner's kernels are
forked from one process that has imported it (``analysis.run.warm_kernels``). These tests drive
kernels through Jupyter's own kernel manager, as papermill does, and check that a forked kernel
has the package imported before its first cell, takes the directory and environment it was
started with, is interrupted, shut down and killed like any kernel, and that whatever the warm
process cannot serve (an environment its imports did not see) starts cold rather than wrong.
That the suite's tables and figures are the same bytes with and without warm kernels is
``test_runner.py::test_two_runs_one_parallel_give_byte_identical_tables_and_figures`` (its first
run is cold, its second warm).
"""

from __future__ import annotations

import os
import signal
import sys
import time

import psutil
import pytest

from analysis.run.warm_kernels import PRELOADED, kernel_manager_class, warm_kernels

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="warm kernels are forked on Linux only")

KERNEL = "python3"  # this interpreter's own kernel, as `analysis run` uses by default

REPORT = f"""
import os, sys, json
preloaded = sorted(m for m in {PRELOADED!r} if m in sys.modules)
print(json.dumps(dict(preloaded=preloaded, cwd=os.getcwd(), marker=os.environ.get("WARM_KERNEL_TEST"),
                      pid=os.getpid(), ppid=os.getppid())))
"""


def _run(km, code: str, timeout: float = 60) -> tuple[str, dict]:
    """Execute ``code`` in the kernel of ``km``; return its printed text and the reply content."""
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=timeout)
        printed = []

        def hook(msg):
            if msg["msg_type"] == "stream":
                printed.append(msg["content"]["text"])

        reply = kc.execute_interactive(code, output_hook=hook, timeout=timeout)
        return "".join(printed), reply["content"]
    finally:
        kc.stop_channels()


def _report(km) -> dict:
    import json

    text, reply = _run(km, REPORT)
    assert reply["status"] == "ok", reply
    return json.loads(text)


@pytest.fixture(scope="module")
def warm():
    with warm_kernels(KERNEL) as started:
        assert started is not None
        yield kernel_manager_class(started.socket_path, asynchronous=False)


def _start(manager_class, cwd, **env):
    km = manager_class(kernel_name=KERNEL)
    km.start_kernel(cwd=str(cwd), env={**os.environ, **env})
    return km


def test_a_forked_kernel_has_the_package_imported_and_its_own_directory_and_environment(warm, tmp_path):
    km = _start(warm, tmp_path, WARM_KERNEL_TEST="first")
    try:
        seen = _report(km)
        assert seen["preloaded"] == sorted(PRELOADED)
        assert seen["cwd"] == str(tmp_path)
        assert seen["marker"] == "first"
        # the kernel is not the process Jupyter started (the stand-in) but a child of the warm process
        assert seen["pid"] != km.provisioner.pid
        assert "analysis.run.warm_kernels" in psutil.Process(seen["ppid"]).cmdline()
        # a second kernel starts from the imported state, not from the first kernel's
        _run(km, "import analysis; analysis.LEFT_BY_THE_FIRST = 1")
        other = _start(warm, tmp_path, WARM_KERNEL_TEST="second")
        try:
            text, reply = _run(other, "import analysis; print(hasattr(analysis, 'LEFT_BY_THE_FIRST'))")
            assert reply["status"] == "ok" and text.strip() == "False"
            assert _report(other)["marker"] == "second"
        finally:
            other.shutdown_kernel(now=False)
    finally:
        km.shutdown_kernel(now=False)
    assert not km.is_alive()


def test_a_kernel_whose_environment_the_imports_did_not_see_starts_cold(warm, tmp_path):
    """The BLAS thread count is read when numpy loads: a kernel asked for with another count
    cannot be a fork of the warm process, so the stand-in starts it the ordinary way."""
    km = _start(warm, tmp_path, OPENBLAS_NUM_THREADS="3", WARM_KERNEL_TEST="cold")
    try:
        seen = _report(km)
        assert seen["pid"] == km.provisioner.pid  # the stand-in became the kernel (exec)
        assert "analysis.study.s06_biomarkers" not in seen["preloaded"]
        assert seen["marker"] == "cold"
    finally:
        km.shutdown_kernel(now=False)


def test_a_forked_kernel_is_interrupted_and_ends_when_its_stand_in_is_killed(warm, tmp_path):
    km = _start(warm, tmp_path)
    try:
        pid = _report(km)["pid"]
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=60)
            msg_id = kc.execute("import time; time.sleep(60)")
            time.sleep(1.0)
            started = time.perf_counter()
            km.interrupt_kernel()  # SIGINT to the stand-in, passed on to the kernel
            while True:
                reply = kc.get_shell_msg(timeout=30)
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
            assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "KeyboardInterrupt"
            assert time.perf_counter() - started < 10
        finally:
            kc.stop_channels()
        os.kill(km.provisioner.pid, signal.SIGKILL)  # the stand-in dies without a word
        km.provisioner.process.wait(timeout=10)
        deadline = time.time() + 10
        while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
            assert time.time() < deadline, "the kernel outlived its stand-in"
            time.sleep(0.1)
    finally:
        km.cleanup_resources()


def test_the_warm_process_and_its_kernels_end_with_the_context(tmp_path):
    with warm_kernels(KERNEL) as started:
        km = _start(kernel_manager_class(started.socket_path, asynchronous=False), tmp_path)
        pid = _report(km)["pid"]
        warm_pid = psutil.Process(pid).ppid()
        assert started.forked() == 1
    deadline = time.time() + 10
    for gone in (warm_pid, pid):
        while psutil.pid_exists(gone) and psutil.Process(gone).status() != psutil.STATUS_ZOMBIE:
            assert time.time() < deadline, f"process {gone} outlived the warm kernels"
            time.sleep(0.1)
    km.cleanup_resources()


def test_no_warm_process_when_disabled_or_for_a_kernel_that_is_not_ipykernel(tmp_path):
    with warm_kernels(KERNEL, enabled=False) as started:
        assert started is None
    with warm_kernels("no-such-kernel-here") as started:
        assert started is None
