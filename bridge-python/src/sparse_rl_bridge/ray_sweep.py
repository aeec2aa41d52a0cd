"""Ray driver of ``sparse-rl sweep SWEEP.json --ray ADDRESS`` (docs/sweeps.md).

The TypeScript command writes a JSON spec (the expanded, validated runs) and starts
``python -m sparse_rl_bridge.ray_sweep --spec FILE``. This driver connects to the cluster
(``ray.init(address=...)``), submits one Ray *task* per run (``num_cpus`` = the run's
``runtime.threads``) and reports progress as JSON lines on stdout, each prefixed with
``SPARSE_RL_SWEEP `` (anything else on stdout is Ray's and is ignored by the command).

A task runs the project's CLI, ``node <cli> train RECIPE --run-dir DIR --seed S --set ...``
(fresh) or ``node <cli> train --resume DIR`` (when the run directory holds a complete
checkpoint), as a child process with ``PR_SET_PDEATHSIG(SIGTERM)``: if the Ray worker dies
(killed, cancelled, its node preempted), the trainer gets SIGTERM, writes a checkpoint and
exits 143. Its stdout and stderr go to the sweep's ``logs/<run>.log`` (a file, never a pipe, so
an orphaned trainer cannot die of a broken pipe while it checkpoints).

Retries are the driver's (tasks have ``max_retries=0``): a run whose task failed — a non-zero
exit other than a configuration error, a crashed worker, a lost node — is submitted again (up
to ``maxRetries`` times) and resumes from its last checkpoint (a fresh start when it has none).
Before starting, a task waits for the run's ``.lock`` to be released by a previous attempt's
trainer still checkpointing; a lock whose holder is on another host and whose run directory has
not changed for ``staleLockSeconds`` is taken to be left by a lost node and removed.

This module imports only the standard library at import time; ``ray`` is imported by ``main``.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional

PREFIX = "SPARSE_RL_SWEEP "
PR_SET_PDEATHSIG = 1
STEP_FOLDER_PREFIX = "step-"

_emit_lock = threading.Lock()


def emit(event: str, **fields: Any) -> None:
    """Writes one progress line (``SPARSE_RL_SWEEP {"event": ..., ...}``) to stdout and flushes it."""
    with _emit_lock:
        sys.stdout.write(PREFIX + json.dumps({"event": event, **fields}) + "\n")
        sys.stdout.flush()


def latest_checkpoint(run_dir: str) -> Optional[str]:
    """The newest complete checkpoint folder (``checkpoints/step-*/state.json`` exists) of a run, or None."""
    root = os.path.join(run_dir, "checkpoints")
    if not os.path.isdir(root):
        return None
    done = sorted(
        f for f in os.listdir(root)
        if f.startswith(STEP_FOLDER_PREFIX) and f[len(STEP_FOLDER_PREFIX):].isdigit()
        and os.path.isfile(os.path.join(root, f, "state.json"))
    )
    return os.path.join(root, done[-1]) if done else None


def read_metadata(run_dir: str) -> Optional[Dict[str, Any]]:
    """A run directory's ``metadata.json``, or None when absent or unreadable."""
    try:
        with open(os.path.join(run_dir, "metadata.json"), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def plan(run_dir: str) -> str:
    """What a run needs: ``skip`` (completed), ``resume`` (has a complete checkpoint) or ``fresh``."""
    meta = read_metadata(run_dir)
    if meta is not None and meta.get("status") == "completed":
        return "skip"
    return "resume" if latest_checkpoint(run_dir) else "fresh"


def classify(run_dir: str, exit_code: int) -> Dict[str, Any]:
    """The outcome of one trainer process: status (completed / interrupted / failed), whether a retry may help, a message."""
    meta = read_metadata(run_dir) or {}
    status = meta.get("status")
    error = meta.get("error") if isinstance(meta.get("error"), dict) else None
    if exit_code == 0 and status == "completed":
        return {"status": "completed", "retryable": False}
    if exit_code in (130, 143):
        return {"status": "interrupted", "retryable": True, "message": f"trainer exited {exit_code} (signal), status {status}"}
    config_error = (exit_code == 1 and not meta) or (error is not None and error.get("name") == "ConfigError")
    message = error.get("message") if error else f"trainer exited {exit_code} (status {status or 'none'})"
    return {"status": "failed", "retryable": not config_error, "message": message}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _newest_mtime(run_dir: str) -> float:
    newest = 0.0
    for root in (run_dir, os.path.join(run_dir, "checkpoints")):
        try:
            for f in os.listdir(root):
                try:
                    newest = max(newest, os.stat(os.path.join(root, f)).st_mtime)
                except OSError:
                    pass
        except OSError:
            pass
    return newest


def wait_for_lock(run_dir: str, stale_s: float, timeout_s: float, log) -> None:
    """
    Waits until no live process holds ``<run_dir>/.lock`` (a previous attempt's trainer writing
    its checkpoint after SIGTERM). A holder on this host that is gone is left to the trainer
    (it takes over stale locks); a holder on another host is taken to be gone when nothing in
    the run directory changed for ``stale_s`` seconds (a lost node), and its lock is removed.
    Raises TimeoutError after ``timeout_s``.
    """
    lock = os.path.join(run_dir, ".lock")
    start = time.monotonic()
    host = socket.gethostname()
    while True:
        try:
            with open(lock, encoding="utf-8") as f:
                holder = json.load(f)
        except FileNotFoundError:
            return
        except (OSError, ValueError):
            return  # torn lock file: the trainer takes it over
        if holder.get("hostname") == host:
            if not _pid_alive(int(holder.get("pid", -1))):
                return
        elif time.time() - _newest_mtime(run_dir) > stale_s:
            log(f"removing the lock of {run_dir} held by pid {holder.get('pid')} on {holder.get('hostname')}: nothing changed for {stale_s:.0f} s (node lost)\n")
            try:
                os.remove(lock)
            except FileNotFoundError:
                pass
            return
        if time.monotonic() - start > timeout_s:
            raise TimeoutError(f"{run_dir} is still locked by pid {holder.get('pid')} on {holder.get('hostname')} after {timeout_s:.0f} s")
        time.sleep(0.2)


def _pdeathsig(parent_pid: int):
    """preexec_fn: SIGTERM this child when the process that started it (the Ray worker) dies."""
    def set_it() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            os._exit(97)
        if os.getppid() != parent_pid:  # the worker died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)
    return set_it


def run_attempt(run: Dict[str, Any], common: Dict[str, Any], attempt: int) -> Dict[str, Any]:
    """
    One attempt of one run (the body of the Ray task): waits for the run's lock, then skips a
    completed run, resumes one with a checkpoint or starts it fresh (its folder removed first),
    running the CLI with its output appended to the run's log. Returns the outcome
    (``classify``) with ``exitCode``, ``mode``, ``node`` and ``pid`` (of the trainer).
    """
    run_dir = run["runDir"]
    with open(run["log"], "ab") as logf:
        def log(text: str) -> None:
            logf.write(text.encode())
            logf.flush()

        wait_for_lock(run_dir, float(common.get("staleLockSeconds", 120)), float(common.get("lockTimeoutSeconds", 900)), log)
        mode = plan(run_dir)
        node = socket.gethostname()
        if mode == "skip":
            return {"status": "completed", "retryable": False, "exitCode": 0, "mode": mode, "node": node}
        if mode == "fresh":
            shutil.rmtree(run_dir, ignore_errors=True)
            args = [common["node"], common["cli"], "train", *run["trainArgs"], "--run-dir", run_dir]
        else:
            args = [common["node"], common["cli"], "train", "--resume", run_dir]
        log(f"=== sweep attempt {attempt} ({mode}) on {node} at {time.strftime('%Y-%m-%dT%H:%M:%S%z')}: {' '.join(args)}\n")
        env = {**os.environ, **common.get("env", {})}
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, env=env,
                                cwd=common.get("cwd") or None, preexec_fn=_pdeathsig(os.getpid()))
        try:
            code = proc.wait()
        except BaseException:  # cancelled (KeyboardInterrupt) or the worker is shutting down
            proc.send_signal(signal.SIGTERM)
            proc.wait()
            raise
        log(f"=== sweep attempt {attempt} exited {code}\n")
    return {**classify(run_dir, code), "exitCode": code, "mode": mode, "node": node, "pid": proc.pid}


def _drive(spec: Dict[str, Any]) -> int:
    import ray  # noqa: PLC0415 (optional dependency: the bridge's `ray` extra)
    from ray.exceptions import RayError, TaskCancelledError  # noqa: PLC0415

    common = spec["common"]
    runs: List[Dict[str, Any]] = spec["runs"]
    max_retries = int(spec.get("maxRetries", 2))
    if __name__ != "__main__":  # imported (tests): ship this module's code to the workers by value
        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(address=spec["address"], log_to_driver=False, logging_level="WARNING", configure_logging=True)
    resources = ray.cluster_resources()
    cpus = float(resources.get("CPU", 0))
    emit("cluster", cpus=cpus, nodes=len([n for n in ray.nodes() if n.get("Alive")]))
    too_big = [r["name"] for r in runs if r["threads"] > cpus]
    if too_big:
        emit("error", message=f"the cluster has {cpus:g} CPUs; runs {', '.join(too_big)} need more (runtime.threads): set runtime.threads or --threads-per-run")
        return 2

    task = ray.remote(max_retries=0)(run_attempt)
    pending: Dict[Any, tuple] = {}
    stopping = {"signal": None}

    def on_signal(signum, _frame):
        stopping["signal"] = signum

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def submit(run: Dict[str, Any], attempt: int) -> None:
        ref = task.options(num_cpus=run["threads"], name=f"sweep:{run['name']}").remote(run, common, attempt)
        pending[ref] = (run, attempt)
        emit("submitted", run=run["name"], attempt=attempt, mode=plan(run["runDir"]))

    for r in runs:
        submit(r, 1)
    cancelled = False
    failed = 0
    while pending:
        if stopping["signal"] is not None and not cancelled:
            cancelled = True
            for ref in list(pending):
                ray.cancel(ref, force=True)
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
        for ref in ready:
            run, attempt = pending.pop(ref)
            try:
                result = ray.get(ref)
            except TaskCancelledError:
                result = {"status": "interrupted", "retryable": False, "message": "cancelled (sweep stopped)"}
            except RayError as e:  # worker crashed, node lost, task raised
                if cancelled:
                    result = {"status": "interrupted", "retryable": False, "message": "cancelled (sweep stopped)"}
                else:
                    result = {"status": "lost", "retryable": True, "message": f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"}
            retry = result["status"] != "completed" and bool(result.get("retryable")) and attempt <= max_retries and not cancelled
            emit("finished", run=run["name"], attempt=attempt, retryAt=attempt + 1 if retry else None, **result)
            if retry:
                submit(run, attempt + 1)
            elif result["status"] != "completed" and not cancelled:
                failed += 1
    emit("done", failed=failed, interrupted=cancelled)
    if cancelled:
        return 128 + int(stopping["signal"])
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Command line: ``python -m sparse_rl_bridge.ray_sweep --spec FILE`` (the JSON spec the TS command writes)."""
    parser = argparse.ArgumentParser(prog="python -m sparse_rl_bridge.ray_sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", required=True, help="JSON spec written by `sparse-rl sweep --ray`")
    args = parser.parse_args(argv)
    with open(args.spec, encoding="utf-8") as f:
        spec = json.load(f)
    try:
        import ray  # noqa: F401, PLC0415
    except ImportError as e:
        emit("error", message=f"Python package ray is not importable by {sys.executable} ({e}); install the bridge's ray extra (pip install 'sparse-rl-bridge[ray]') or run `npm run setup`")
        return 2
    try:
        return _drive(spec)
    except Exception as e:  # connection refused, bad address, ...
        emit("error", message=f"{type(e).__name__}: {e}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
