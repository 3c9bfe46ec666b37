#!/usr/bin/python
"""Run an evaluation step plan on the node: tools only, each with a timeout and a raw log."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: multiarc_eval_steps
short_description: Run multiarc-eval's fact commands and step plan on a node
description:
  - Runs the read-only fact commands, then the step plan the controller chose for the
    number of Level Zero GPUs C(sycl-ls) lists here. Each command runs in its own process
    group with its own timeout; its output (stdout and stderr) is kept as a raw log.
  - Parses nothing beyond that GPU count; the controller parses and judges the raw logs.
  - Works in a private folder of its own (returned as I(folder), for the playbook to fetch
    I(archive) from and remove), so a node needs one task, not one per file.
  - Writes C(node.json) (every command's exit, duration, timeout, error), copies the probe
    files (sysfs as sysfs lays it out, links kept, /proc slices) under C(root/) and packs
    the run folder as I(archive).
  - With I(recording_data) (a recording folder packed as .tar.gz, base64), the recorded
    tools are replayed by I(shim_data) (replay_shim.py, base64) first on PATH and the
    probes are read from the recording's root; C(node.json) keeps how often each replayed
    call was made, and I(replay_calls) gives those counts back to a later run (the repeats
    of --confirm see the calls that came before, as on a real host).
  - A plan under the key C(any) runs whatever the GPU count (the repeats of --confirm).
  - With I(performance) (and I(perf_code_data), the controller's perfmode module and the
    xpu-smi parser, a zip as base64), the steps run in performance mode, as
    C(multiarc-eval basic --performance-mode) on one host does (CPU governor C(performance),
    each evaluated GPU's frequency locked with C(xpu-smi config)), every value restored
    afterwards, also when the controller stops the run. What it changed and could not
    change goes into C(node.json) (C(performance)), its xpu-smi output under C(perf/).
  - Standard library only; the node needs nothing beyond what Ansible needs.
options:
  folder_prefix: {type: str, default: multiarc-eval-}
  facts: {type: dict, default: {}}
  plans: {description: step plans by GPU count (string keys) or C(any), type: dict, default: {}}
  env: {type: dict, default: {}}
  fact_timeout_s: {type: float, default: 60}
  probe_globs: {type: list, elements: str, default: []}
  recording_data: {type: str}
  shim_data: {type: str}
  tools: {type: list, elements: str, default: []}
  replay_calls: {description: replayed calls made before (name to count), type: dict, default: {}}
  performance: {description: "performance mode: {gpus: {GPU count: devices}}", type: dict}
  stop:
    description:
      - Instead of a run, stop the runs whose private folder starts with I(folder_prefix)
        (after Ctrl-C on the controller). Each is sent SIGTERM, stops its tool, restores
        what performance mode changed, writes C(node.json), packs what it has, and is
        waited for up to I(stop_wait_s). Returns their I(folders) and the I(archive) that
        came of them, for the playbook to fetch and remove.
      - A run leaves the session of the Ansible process that started it, so that killing
        that process (a local connection cancelled) does not kill it before it restores.
    type: bool
    default: false
  stop_wait_s: {type: float, default: 30}
  setvars:
    description:
      - The oneAPI environment, sourced once before the fact commands as on one host
        (I(path), from the recording's root when replaying; I(script), I(timeout_s) and
        the shell variables to I(drop) from the controller's runner). Its output is
        C(steps/00-setvars.log), its record C(setvars) in C(node.json); the commands run
        in the environment it leaves, or the node's own when it fails.
    type: dict
  perf_code_data: {type: str}
author: multiarc
"""

import base64  # noqa: E402
import contextlib  # noqa: E402
import glob  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import tarfile  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.multiarc.platform.plugins.module_utils.eval_node import (  # noqa: E402
    copy_probes,
    mark_running,
    run_one,
    source_setvars,
    stop_runs,
)

RUN_DIR_MARK = "{run_dir}"
SPV_DIRS = ("/opt/intel/multi-arc/tools/level-zero-tests",)


class Stopped(Exception):
    """SIGTERM or SIGHUP: the controller stopped the run."""


def _stop(signum, frame):
    raise Stopped(signum)


def count_gpus(text):
    """Distinct Level Zero GPU indexes in sycl-ls output (as the controller's parser)."""
    pattern = re.compile(r"^\[(?:ext_oneapi_)?level_zero:gpu\]\[(?:ext_oneapi_)?level_zero:(\d+)\]")
    return len(
        {m.group(1) for m in map(pattern.match, (x.strip() for x in text.splitlines())) if m}
    )


def write_shims(folder, recording, shim, tools):
    os.makedirs(folder, exist_ok=True)
    for tool in tools:
        path = os.path.join(folder, tool)
        command = " ".join(shlex.quote(p) for p in (sys.executable, "-I", "-S", shim, recording))
        with open(path, "w") as handle:
            handle.write(
                f"#!/bin/sh\n# multiarc replay shim (RECORDING)\n"
                f'exec {command} {shlex.quote(tool)} "$@"\n'
            )
        os.chmod(path, 0o755)


def spv_folder(run_dir, env):
    folder = os.path.join(run_dir, "spv")
    os.makedirs(folder, exist_ok=True)
    peak = shutil.which("ze_peak", path=env.get("PATH"))
    for source in ([os.path.dirname(os.path.realpath(peak))] if peak else []) + list(SPV_DIRS):
        for spv in glob.glob(os.path.join(source, "*.spv")):
            shutil.copy2(spv, folder)
    return folder


def unpack_recording(archive, dest):
    """The controller's recording archive: files, folders and links inside dest only."""
    with tarfile.open(archive, "r:gz") as tar:
        members = []
        for member in tar.getmembers():
            path = os.path.normpath(member.name)
            if os.path.isabs(path) or path.startswith(".."):
                raise ValueError(f"recording member leaves its folder: {member.name}")
            if member.issym():
                target = os.path.normpath(os.path.join(os.path.dirname(path), member.linkname))
                if os.path.isabs(member.linkname) or target.startswith(".."):
                    continue  # a link out of the recording: not needed, not followed
            elif not (member.isfile() or member.isdir()):
                continue
            members.append(member)
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, members=members, filter="data")
        else:
            tar.extractall(dest, members=members)


class Answer:
    """A command's record as perfmode reads it (ok, exit_code, output, error)."""

    def __init__(self, record, output):
        self.exit_code = record["exit_code"]
        self.error = record["error"]
        self.output = output
        self.ok = self.exit_code == 0 and not record["timed_out"] and not self.error


def node_runner(folder, commands):
    """perfmode's runner: run_one with a raw log under perf/, each record kept."""

    def run(argv, env, timeout_s):
        os.makedirs(folder, exist_ok=True)
        log = os.path.join(folder, f"{len(commands) + 1:02d}-{os.path.basename(argv[0])}.log")
        record = run_one(list(argv), dict(env), timeout_s, folder, log)
        commands.append(record)
        with open(log, errors="replace") as handle:
            return Answer(record, handle.read())

    return run


@contextlib.contextmanager
def performance_mode(params, env, gpus, record):
    """The steps in performance mode when asked for (settings restored however they end)."""
    settings = params.get("performance")
    if settings is None:
        yield
        return
    sys.path.insert(0, params["perf_code"])
    perfmode = importlib.import_module("multiarc.evaluation.perfmode")
    run_dir = params["run_dir"]
    root = os.path.join(run_dir, "root") if params.get("recording") else "/"
    devices = (settings.get("gpus") or {}).get(str(gpus)) or list(range(gpus))
    commands = []
    mode = perfmode.PerformanceMode(
        root=perfmode.Path(root),
        env=env,
        gpus=[int(d) for d in devices],
        run=node_runner(os.path.join(run_dir, "perf"), commands),
    )
    try:
        with mode:
            yield
    finally:
        record["performance"] = {
            "gpus": mode.gpus,
            "changes": mode.changes,
            "problems": mode.problems,
            "commands": commands,
        }


def run_plan(params, record):
    run_dir = params["run_dir"]
    os.makedirs(os.path.join(run_dir, "facts"), exist_ok=True)
    os.makedirs(os.path.join(run_dir, "steps"), exist_ok=True)
    env = dict(os.environ)
    env.update({k: str(v) for k, v in params["env"].items()})
    shims = None
    probe_root = "/"  # the probes and setvars.sh: the recording's root when replaying
    if params.get("recording"):
        recording = os.path.join(os.path.dirname(run_dir), "recording")
        probe_root = os.path.join(recording, "root")
        unpack_recording(params["recording"], recording)
        shims = os.path.join(run_dir, ".shims")
        write_shims(shims, recording, params["shim"], params["tools"])
        env["PATH"] = shims + os.pathsep + env.get("PATH", os.defpath)
        env["MULTIARC_REPLAY_STATE"] = shims
        for name, count in params["replay_calls"].items():
            if re.fullmatch(r"[0-9a-f]{40}", str(name)) and 0 <= int(count) <= 1000:
                with open(os.path.join(shims, f"calls-{name}"), "wb") as handle:
                    handle.write(b"." * int(count))
        shutil.copytree(probe_root, os.path.join(run_dir, "root"), symlinks=True)
        record["probes"] = "recording"
    else:
        record["probes"] = copy_probes("/", params["probe_globs"], os.path.join(run_dir, "root"))
    setvars = params.get("setvars") or {}
    script = os.path.join(probe_root, str(setvars.get("path", "")).lstrip("/"))
    if setvars.get("path") and os.path.isfile(script):
        record["setvars"], captured = source_setvars(script, env, setvars, run_dir)
        if captured is not None:  # the replay shims stay first on PATH
            path = [p for p in captured.get("PATH", os.defpath).split(os.pathsep) if p != shims]
            env = dict(captured, PATH=os.pathsep.join(([shims] if shims else []) + path))
    for name, argv in params["facts"].items():
        log = os.path.join(run_dir, "facts", f"{name}.log")
        record["facts"][name] = run_one(argv, env, params["fact_timeout_s"], run_dir, log)
    sycl = record["facts"].get("sycl_ls")
    gpus = 0
    if sycl and sycl["exit_code"] == 0:
        with open(os.path.join(run_dir, "facts", "sycl_ls.log"), errors="replace") as handle:
            gpus = count_gpus(handle.read())
    record["gpus"] = gpus
    plans = params["plans"]
    if "any" in plans:
        plan = plans["any"]
    else:
        plan = plans.get(str(gpus)) or (plans.get(max(plans, key=int)) if plans and gpus else [])
    record["plan"] = plan or []
    with performance_mode(params, env, gpus, record):
        run_steps(params, plan or [], env, record)


def run_steps(params, plan, env, record):
    run_dir = params["run_dir"]
    spv = None
    for step in plan:
        argv = [a.replace(RUN_DIR_MARK, run_dir) for a in step["argv"]]
        cwd = run_dir
        if step.get("needs_spv"):
            spv = spv or spv_folder(run_dir, env)
            cwd = spv
        step_env = dict(env)
        step_env.update({k: str(v) for k, v in (step.get("env") or {}).items()})
        log = os.path.join(run_dir, step["log"])
        record["steps"].append(
            dict(
                run_one(argv, step_env, float(step["timeout_s"]), cwd, log),
                name=step["name"],
                log=step["log"],
            )
        )


def replay_calls(run_dir):
    """How often each replayed call was made (the shim's counter files), for node.json."""
    shims = os.path.join(run_dir, ".shims")
    if not os.path.isdir(shims):
        return None
    return {
        name[len("calls-") :]: os.path.getsize(os.path.join(shims, name))
        for name in os.listdir(shims)
        if name.startswith("calls-")
    }


def pack(run_dir, archive):
    shutil.rmtree(os.path.join(run_dir, ".shims"), ignore_errors=True)
    shutil.rmtree(os.path.join(run_dir, "spv"), ignore_errors=True)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(run_dir, arcname="run")


def private_folder(params):
    """The module's own folder; the recording and the shim written into it."""
    folder = tempfile.mkdtemp(prefix=params["folder_prefix"])
    mark_running(folder)
    params["run_dir"] = os.path.join(folder, "run")
    params["archive"] = os.path.join(folder, "run.tar.gz")
    params["recording"] = params["shim"] = params["perf_code"] = None
    if params.get("performance") is not None:
        params["perf_code"] = os.path.join(folder, "perfmode.zip")
        with open(params["perf_code"], "wb") as handle:
            handle.write(base64.b64decode(params["perf_code_data"]))
    if params.get("recording_data"):
        params["recording"] = os.path.join(folder, "recording.tar.gz")
        with open(params["recording"], "wb") as handle:
            handle.write(base64.b64decode(params["recording_data"]))
        params["shim"] = os.path.join(folder, "replay_shim.py")
        with open(params["shim"], "wb") as handle:
            handle.write(base64.b64decode(params["shim_data"]))
    return folder


def main():
    module = AnsibleModule(
        argument_spec={
            "folder_prefix": {"type": "str", "default": "multiarc-eval-"},
            "facts": {"type": "dict", "default": {}},
            "plans": {"type": "dict", "default": {}},
            "env": {"type": "dict", "default": {}},
            "fact_timeout_s": {"type": "float", "default": 60.0},
            "probe_globs": {"type": "list", "elements": "str", "default": []},
            "recording_data": {"type": "str", "no_log": True},
            "shim_data": {"type": "str"},
            "tools": {"type": "list", "elements": "str", "default": []},
            "replay_calls": {"type": "dict", "default": {}},
            "performance": {"type": "dict"},
            "perf_code_data": {"type": "str"},
            "stop": {"type": "bool", "default": False},
            "setvars": {"type": "dict"},
            "stop_wait_s": {"type": "float", "default": 30.0},
        },
        required_together=[("recording_data", "shim_data"), ("performance", "perf_code_data")],
    )
    params = dict(module.params)
    if params["stop"]:
        pattern = os.path.join(tempfile.gettempdir(), glob.escape(params["folder_prefix"]) + "*")
        found = stop_runs(pattern, params["stop_wait_s"])
        module.exit_json(
            changed=bool(found["folders"]),
            folders=found["folders"],
            archive=(found["archives"] or [None])[0],
            still_running=found["still_running"],
        )
    with contextlib.suppress(OSError):
        os.setsid()  # killing the Ansible process's group must not kill a run unrestored
    record = {"facts": {}, "steps": [], "gpus": None, "stopped": False, "started": time.time()}
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGHUP, _stop)
    folder = None
    try:
        folder = private_folder(params)
        run_plan(params, record)
    except (Stopped, KeyboardInterrupt):
        record["stopped"] = True
    except Exception as err:  # the folder is the playbook's to remove: say where it is
        module.fail_json(msg=f"evaluation could not run: {err}", folder=folder)
    record["finished"] = time.time()
    record["replay_calls"] = replay_calls(params["run_dir"])
    with open(os.path.join(params["run_dir"], "node.json"), "w") as handle:
        json.dump(record, handle, indent=1)
    pack(params["run_dir"], params["archive"])
    if record["stopped"]:
        module.fail_json(msg="stopped by the controller", folder=folder, archive=params["archive"])
    module.exit_json(
        changed=True,
        folder=folder,
        archive=params["archive"],
        gpus=record["gpus"],
        steps=len(record["steps"]),
        performance={k: v for k, v in record.get("performance", {}).items() if k != "commands"}
        or None,
    )


if __name__ == "__main__":
    main()
