"""Renders every case of the differential corpus with Python Prefect itself.

Reads JSON lines (one case each) on stdin and writes one JSON line per case:
{"result": ...} or {"error": "<exception class>"}.
"""
import asyncio
import json
import os
import sys

import prefect.exceptions
from prefect.utilities.templating import apply_values
from prefect.workers.base import BaseJobConfiguration


class _Doc:
    def __init__(self, data):
        self.data = data


class _Var:
    def __init__(self, value):
        self.value = value


class FakeClient:
    """Answers the three reads the templating functions make from case data."""

    def __init__(self, case):
        self.blocks = case.get("blocks", {})
        self.named = case.get("blocks_by_name", {})
        self.variables = case.get("variables", {})

    async def read_block_document(self, block_document_id):
        key = str(block_document_id)
        if key not in self.blocks:
            raise prefect.exceptions.ObjectNotFound(http_exc=Exception("404"))
        return _Doc(json.loads(json.dumps(self.blocks[key])))

    async def read_block_document_by_name(self, name, block_type_slug):
        key = f"{block_type_slug}/{name}"
        if key not in self.named:
            raise prefect.exceptions.ObjectNotFound(http_exc=Exception("404"))
        return _Doc(json.loads(json.dumps(self.named[key])))

    async def read_variable_by_name(self, name):
        if name not in self.variables:
            return None
        return _Var(self.variables[name])


class Capture(dict):
    """Stands in for the job configuration model: keeps the rendered dict."""

    _get_base_config_defaults = staticmethod(BaseJobConfiguration._get_base_config_defaults)

    def __init__(self, **kwargs):
        super().__init__(kwargs)


async def render(case):
    client = FakeClient(case)
    fn = BaseJobConfiguration.from_template_and_values.__func__
    return dict(await fn(Capture, base_job_template=case["template"], values=case["values"], client=client))


def run(case):
    saved = dict(os.environ)
    try:
        for k, v in case.get("env", {}).items():
            os.environ[k] = v
        if case["mode"] == "apply":
            return {"result": apply_values(case["template"], case["values"])}
        return {"result": asyncio.run(render(case))}
    except Exception as exc:  # the Go side must fail too; messages differ
        return {"error": type(exc).__name__}
    finally:
        os.environ.clear()
        os.environ.update(saved)


for line in sys.stdin:
    if line.strip():
        print(json.dumps(run(json.loads(line))), flush=True)
