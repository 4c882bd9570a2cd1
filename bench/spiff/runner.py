"""SpiffWorkflow's side of bench/workflow.py, run by the interpreter of the benchmark's own
environment (var/bench-envs/spiff, made by bench/workflow.py): never imported by the
project, whose environment has no SpiffWorkflow.

It parses ``chain.bpmn`` once (as we compile our plan once) and answers one JSON request
per line on stdin with one JSON line on stdout, so that bench/workflow.py can alternate
rounds of Spiff and of our engine in one run:

    {"op": "run", "instances": N}   run N instances to the end, a save after every action
    {"op": "profile"}               one instance: the stored size after every action

An instance: start it, run the engine to the first user task; then each approval is one
READY user task given its approver's decision, run, the engine stepped on, and the whole
workflow serialised with ``BpmnWorkflowSerializer`` (how Spiff saves an instance). The
countersign is a parallel multi-instance task: five READY children, one approval each.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.parser import BpmnParser
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.util.task import TaskState

HERE = Path(__file__).resolve().parent
PROCESS = "bench_chain"
APPROVALS = 10  # five levels, then five countersigners


def load_spec() -> Any:
    parser = BpmnParser()
    parser.add_bpmn_file(str(HERE / "chain.bpmn"))
    return parser.get_spec(PROCESS)


SPEC = load_spec()
SERIALIZER = BpmnWorkflowSerializer()


def instance_only(saved: str) -> int:
    """The size without the process definition, which Spiff stores in every instance."""
    raw = json.loads(saved)
    raw.pop("spec", None)
    raw.pop("subprocess_specs", None)
    return len(json.dumps(raw, separators=(",", ":")).encode())


def run_instance(number: int, sizes: list[tuple[int, int]] | None = None) -> list[float]:
    """One instance to the end; seconds per approval (act + save). With ``sizes``, the
    stored size after every action (start included) is appended: (whole, instance only)."""
    clock = time.perf_counter
    workflow = BpmnWorkflow(SPEC)
    workflow.do_engine_steps()
    saved = SERIALIZER.serialize_json(workflow)
    if sizes is not None:
        sizes.append((len(saved.encode()), instance_only(saved)))
    per_action: list[float] = []
    approver = number * APPROVALS
    while not workflow.completed:
        ready = workflow.get_tasks(state=TaskState.READY, manual=True)
        if not ready:
            raise SystemExit(f"instance {number}: no ready user task and not completed")
        for task in ready:
            started = clock()
            task.data.update(approver=f"u{approver}", decision="approve")
            task.run()
            workflow.do_engine_steps()
            saved = SERIALIZER.serialize_json(workflow)
            per_action.append(clock() - started)
            approver += 1
            if sizes is not None:
                sizes.append((len(saved.encode()), instance_only(saved)))
    if len(per_action) != APPROVALS:
        raise SystemExit(f"instance {number}: {len(per_action)} approvals, not {APPROVALS}")
    return per_action


def run(instances: int) -> dict[str, Any]:
    clock = time.perf_counter
    per_action: list[float] = []
    started = clock()
    for n in range(instances):
        per_action += run_instance(n)
    return {"seconds": clock() - started, "approvals": len(per_action), "per_action": per_action}


def profile() -> dict[str, Any]:
    sizes: list[tuple[int, int]] = []
    run_instance(0, sizes)
    return {"whole": [s[0] for s in sizes], "instance_only": [s[1] for s in sizes]}


def main() -> None:
    from importlib.metadata import version

    print(json.dumps({"ready": True, "version": version("SpiffWorkflow")}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "run":
            answer = run(int(request["instances"]))
        elif request["op"] == "profile":
            answer = profile()
        else:
            answer = {"error": f"unknown op {request['op']!r}"}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
