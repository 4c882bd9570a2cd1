"""SpiffWorkflow's side of bench/workflow.py, run by the interpreter of the benchmark's own
environment (var/bench-envs/spiff, made by bench/workflow.py): never imported by the
project, whose environment has no SpiffWorkflow.

It parses ``chain.bpmn`` once (as we compile our plan once) and answers one JSON request
per line on stdin with one JSON line on stdout, so that bench/workflow.py can alternate
rounds of Spiff and of our engine in one run:

    {"op": "run", "instances": N}   run N instances to the end, a save after every action
    {"op": "profile"}               one instance: the stored size after every action

An instance: start it, run the engine to the first user task; then each approval is one
READY user task given its approver's decision, run, the engine stepped on, and the
instance serialised with ``BpmnWorkflowSerializer``. The countersign is a parallel
multi-instance task: five READY children, one approval each.

The save is the instance without its process definition, which is serialised once and
referred to by name: how an application stores Spiff instances when it keeps its
definitions apart (Spiff's own example application, spiff-example-cli, saves them so), and
what our side does (its plan is compiled once and pinned by hash, never saved with an
instance). Spiff's default ``serialize_json`` converts the whole definition again on every
save, a fifth of its time here: counting that would flatter us. ``profile`` reports both
sizes and restores a saved instance halfway, to show the save is complete.
"""

from __future__ import annotations

import copy
import json
import sys
import time
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.parser import BpmnParser
from SpiffWorkflow.bpmn.serializer import DEFAULT_CONFIG, BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import (
    BpmnWorkflowConverter,
    WorkflowConverter,
)
from SpiffWorkflow.util.task import TaskState

HERE = Path(__file__).resolve().parent
PROCESS = "bench_chain"
APPROVALS = 10  # five levels, then five countersigners


def load_spec() -> Any:
    parser = BpmnParser()
    parser.add_bpmn_file(str(HERE / "chain.bpmn"))
    return parser.get_spec(PROCESS)


SPEC = load_spec()
WHOLE = BpmnWorkflowSerializer()
"""Spiff's default: every save carries the process definition (sizes only)."""
SPECS: dict[str, Any] = {}
"""Process definitions by name, each serialised once (the definitions' table)."""


class InstanceConverter(BpmnWorkflowConverter):
    """A workflow as the default converter gives it, with its definitions by name."""

    def to_dict(self, workflow: Any) -> dict[str, Any]:
        dct: dict[str, Any] = WorkflowConverter.to_dict(self, workflow)
        dct["spec"] = workflow.spec.name
        dct["subprocess_specs"] = sorted(workflow.subprocess_specs)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any]) -> Any:
        # Restoring consumes the dictionaries it is given: each gets a copy of the stored one.
        dct["spec"] = copy.deepcopy(SPECS[dct["spec"]])
        dct["subprocess_specs"] = {n: copy.deepcopy(SPECS[n]) for n in dct["subprocess_specs"]}
        return super().from_dict(dct)


SERIALIZER = BpmnWorkflowSerializer(
    BpmnWorkflowSerializer.configure({**DEFAULT_CONFIG, BpmnWorkflow: InstanceConverter})
)
SPECS[SPEC.name] = WHOLE.to_dict(SPEC)


def run_instance(
    number: int, sizes: list[tuple[int, int]] | None = None, restore_after: int | None = None
) -> list[float]:
    """One instance to the end; seconds per approval (act + save). With ``sizes``, the
    stored size after every action (start included) is appended: (with the definition,
    as saved). With ``restore_after``, the instance is restored from its save after that
    many approvals and goes on from there (a check, not timed)."""
    clock = time.perf_counter
    workflow = BpmnWorkflow(SPEC)
    workflow.do_engine_steps()
    saved = SERIALIZER.serialize_json(workflow)
    if sizes is not None:
        sizes.append((len(WHOLE.serialize_json(workflow).encode()), len(saved.encode())))
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
                sizes.append((len(WHOLE.serialize_json(workflow).encode()), len(saved.encode())))
            if restore_after == len(per_action):
                workflow = SERIALIZER.deserialize_json(saved)
                break  # the ready tasks are those of the restored workflow now
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
    run_instance(0, sizes, restore_after=APPROVALS // 2)
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
