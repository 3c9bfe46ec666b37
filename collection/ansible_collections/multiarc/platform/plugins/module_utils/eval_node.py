"""What multiarc_eval_steps does on a node: run a command as the evaluation does (own
process group, timeout, raw log) and mirror the probe files sysfs-style. Standard library
only."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import time

KILL_GRACE_S = 2.0


def kill_group(proc):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(timeout=KILL_GRACE_S)
            return
        except subprocess.TimeoutExpired:
            continue


def run_one(argv, env, timeout_s, cwd, log_path):
    """One command; its record (never raises for the tool's sake)."""
    started = time.monotonic()
    record = {
        "argv": argv,
        "exit_code": None,
        "duration_s": 0.0,
        "timed_out": False,
        "error": "",
        "log": os.path.basename(log_path),
    }
    exe = shutil.which(argv[0], path=env.get("PATH")) if "/" not in argv[0] else argv[0]
    with open(log_path, "wb") as sink:
        if exe is None:
            record["error"] = f"{argv[0]}: command not found"
            return record
        try:
            proc = subprocess.Popen(
                [exe, *argv[1:]],
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as err:
            record["error"] = f"{argv[0]} could not start: {err.strerror or err}"
            return record
        try:
            record["exit_code"] = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            record["timed_out"] = True
            record["error"] = f"timed out after {timeout_s:g} s; killed with its process group"
        except BaseException:
            kill_group(proc)
            record["error"] = "stopped by the controller; tool killed"
            record["duration_s"] = round(time.monotonic() - started, 3)
            raise
    code = record["exit_code"]
    if code is not None and code < 0:
        record["error"] = f"killed by signal {-code}"
    record["duration_s"] = round(time.monotonic() - started, 3)
    return record


def _mirror_link(src, rel, dest):
    """The link at ``rel`` recreated in dest with its own (relative) target; the real
    path it leads to (relative to the probe root), or None when it leads out."""
    target = os.readlink(src)
    if os.path.isabs(target):
        return None  # sysfs links are relative; anything else is not followed
    real = os.path.normpath(os.path.join(os.path.dirname(rel), target))
    if real.startswith(".."):
        return None
    link = os.path.join(dest, rel)
    os.makedirs(os.path.dirname(link), exist_ok=True)
    if not os.path.lexists(link):
        os.symlink(target, link)
    return real


def _mirror(probe_root, rel, dest):
    """``rel`` copied into dest as sysfs lays it out: each link on the way (the device
    links of /sys/bus/pci/devices, /sys/class/drm/card*) recreated as a link, the file at
    its real place; a link at the end (a device's ``driver``) stays a link. True if done."""
    real = ""
    parts = rel.split(os.sep)
    for index, part in enumerate(parts):
        here = os.path.join(real, part) if real else part
        src = os.path.join(probe_root, here)
        if os.path.islink(src):
            real = _mirror_link(src, here, dest)
            if real is None:
                return False
            if index == len(parts) - 1:
                return True
        else:
            real = here
    src = os.path.join(probe_root, real)
    if not os.path.isfile(src):
        return False
    target = os.path.join(dest, real)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(src, "rb") as source, open(target, "wb") as out:
        out.write(source.read(1 << 20))
    return True


def copy_probes(probe_root, globs, dest):
    """Every file (and link) the checks read, mirrored under dest; how many."""
    copied = 0
    for pattern in globs:
        for found in glob.glob(os.path.join(probe_root, pattern), recursive=True):
            rel = os.path.relpath(found, probe_root)
            if rel.startswith(".."):
                continue
            try:
                copied += int(_mirror(probe_root, rel, dest))
            except OSError:
                continue
    return copied


PID_FILE = "pid"  # in the run's private folder: "PID START" (start time in clock ticks)


def _start_time(pid):
    """The process's start time (/proc/PID/stat field 22), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def mark_running(folder):
    """Say in the private folder which process runs it (for stop_runs)."""
    with open(os.path.join(folder, PID_FILE), "w") as handle:
        handle.write(f"{os.getpid()} {_start_time(os.getpid())}\n")


def _runner_of(folder):
    """The live process that runs the folder's evaluation, or None (never a reused pid)."""
    try:
        with open(os.path.join(folder, PID_FILE)) as handle:
            pid, started = handle.read().split()
        pid = int(pid)
    except (OSError, ValueError):
        return None
    return pid if _start_time(pid) == started else None


def stop_runs(pattern, wait_s):
    """Every run whose private folder matches ``pattern``: its process sent SIGTERM (it
    stops its tool, restores what it changed, writes node.json and packs what it has),
    then waited for. The folders, and the archives that exist."""
    folders = sorted(p for p in glob.glob(pattern) if os.path.isdir(p) and not os.path.islink(p))
    running = []
    for folder in folders:
        pid = _runner_of(folder)
        if pid is not None:
            try:
                os.kill(pid, signal.SIGTERM)
                running.append((folder, pid))
            except ProcessLookupError:
                continue
    deadline = time.monotonic() + wait_s
    while running and time.monotonic() < deadline:
        running = [(f, p) for f, p in running if _runner_of(f) is not None]
        time.sleep(0.2)
    archives = [
        os.path.join(f, "run.tar.gz")
        for f in folders
        if os.path.isfile(os.path.join(f, "run.tar.gz")) and _runner_of(f) is None
    ]
    return {"folders": folders, "archives": archives, "still_running": [p for _f, p in running]}


SETVARS_LOG = "steps/00-setvars.log"  # where a single-host run keeps it too


def source_setvars(script, env, options, run_dir):
    """``source setvars.sh --force`` once, as the controller's runner does (its script,
    timeout and the shell's own variables to drop come in ``options``): the record (its
    output in steps/00-setvars.log) and the environment, None when sourcing failed."""
    env_file = os.path.join(run_dir, ".setvars-env")
    argv = ["bash", "-c", options["script"], "multiarc-eval", script, env_file]
    record = run_one(
        argv, env, float(options["timeout_s"]), run_dir, os.path.join(run_dir, SETVARS_LOG)
    )
    record["argv"] = ["bash", "-c", f"source {script} --force"]
    record["log"] = SETVARS_LOG
    captured = None
    if record["exit_code"] == 0 and not record["error"] and os.path.isfile(env_file):
        drop = set(options.get("drop") or [])
        captured = {}
        with open(env_file, "rb") as handle:
            for item in handle.read().split(b"\0"):
                key, sep, value = item.decode("utf-8", errors="replace").partition("=")
                if sep and key and key not in drop:
                    captured[key] = value
    elif not record["error"]:
        record["error"] = f"sourcing {script} failed (exit {record['exit_code']})"
    if os.path.exists(env_file):
        os.remove(env_file)
    return record, captured
