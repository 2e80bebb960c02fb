"""Renders every case of the differential corpus with Python Prefect itself.

Reads JSON lines (one case each) on stdin and writes one JSON line per case:
{"result": ...} or {"error": "<exception class>", "message": "<str(exc)>"}.

Modes:
  apply     prefect.utilities.templating.apply_values(template, values)
  render    BaseJobConfiguration.from_template_and_values(template, values)
  merge     the job variables BaseJobConfiguration.resolve_for_flow_run
            passes on (deployment + flow run job variables)
  flow_run  resolve_for_flow_run end to end: merge, then render
Block documents, block documents by name and Prefect variables come from the
case through a fake client, so no server is involved.
"""
import asyncio
import json
import os
import sys
import types

import prefect.exceptions
from prefect.utilities.templating import apply_values
from prefect.workers.base import BaseJobConfiguration


class FakeClient:
    """Answers the reads the worker's templating makes from case data."""

    def __init__(self, case):
        self.blocks = case.get("blocks") or {}
        self.named = case.get("blocks_by_name") or {}
        self.variables = case.get("variables") or {}

    async def read_block_document(self, block_document_id):
        key = str(block_document_id)
        if key not in self.blocks:
            raise prefect.exceptions.ObjectNotFound(http_exc=Exception("404"))
        return types.SimpleNamespace(data=json.loads(json.dumps(self.blocks[key])))

    async def read_block_document_by_name(self, name, block_type_slug):
        key = f"{block_type_slug}/{name}"
        if key not in self.named:
            raise prefect.exceptions.ObjectNotFound(http_exc=Exception("404"))
        return types.SimpleNamespace(data=json.loads(json.dumps(self.named[key])))

    async def read_variable_by_name(self, name):
        if name not in self.variables:
            return None
        return types.SimpleNamespace(value=self.variables[name])

    async def read_flow(self, flow_id):
        return types.SimpleNamespace(id=flow_id, name="flow")


class Capture(dict):
    """Stands in for the job configuration model: keeps the rendered dict
    as it is before pydantic validation."""

    _get_base_config_defaults = staticmethod(BaseJobConfiguration._get_base_config_defaults)
    from_template_and_values = classmethod(BaseJobConfiguration.from_template_and_values.__func__)

    def __init__(self, **kwargs):
        super().__init__(kwargs)

    def prepare_for_flow_run(self, **kwargs):
        pass


class CaptureValues(Capture):
    """Keeps the merged job variables instead of rendering them."""

    @classmethod
    async def from_template_and_values(cls, base_job_template, values, client=None):
        return cls(**{"values": values})


async def for_flow_run(cls, case, client):
    flow_run = types.SimpleNamespace(
        id="00000000-0000-0000-0000-000000000001",
        flow_id="00000000-0000-0000-0000-000000000002",
        deployment_id="00000000-0000-0000-0000-000000000003",
        job_variables=case.get("flow_run_job_variables"),
    )
    deployment = types.SimpleNamespace(job_variables=case.get("deployment_job_variables"))
    pool = types.SimpleNamespace(base_job_template=case.get("template"))
    fn = BaseJobConfiguration.resolve_for_flow_run.__func__
    return await fn(cls, flow_run, client=client, work_pool=pool, worker_name="w", deployment=deployment)


async def evaluate(case):
    client = FakeClient(case)
    mode = case["mode"]
    if mode == "apply":
        return apply_values(case["template"], case["values"])
    if mode == "render":
        fn = BaseJobConfiguration.from_template_and_values.__func__
        return dict(await fn(Capture, base_job_template=case["template"], values=case["values"], client=client))
    if mode == "merge":
        return (await for_flow_run(CaptureValues, case, client))["values"]
    if mode == "flow_run":
        return dict(await for_flow_run(Capture, case, client))
    raise SystemExit(f"unknown mode {mode!r}")


def run(case):
    saved = dict(os.environ)
    try:
        # {{ $NAME }} placeholders see exactly the case's environment.
        os.environ.clear()
        os.environ.update(case.get("env") or {})
        return {"result": asyncio.run(evaluate(case))}
    except Exception as exc:
        return {"error": type(exc).__name__, "message": str(exc)}
    finally:
        os.environ.clear()
        os.environ.update(saved)


for line in sys.stdin:
    if line.strip():
        out = run(json.loads(line))
        try:
            text = json.dumps(out, allow_nan=False)
        except ValueError as exc:  # inf/nan: not JSON, the case is unusable
            text = json.dumps({"error": "Unserialisable", "message": str(exc)})
        print(text, flush=True)
