"""Fixtures of the bridge tests: a real bridge subprocess driven by a Python REQ socket, and a
tiny JSON Schema checker (the subset of draft 2020-12 used by schemas/bridge-protocol.schema.json)
applied to every header sent and received."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import pytest
import zmq

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
ROOT = HERE.parent.parent
SCHEMA_PATH = ROOT / "schemas" / "bridge-protocol.schema.json"

sys.path.insert(0, str(SRC))

from sparse_rl_bridge import protocol as P  # noqa: E402

try:  # tests call gymnasium.make in-process: keep MuJoCo warnings out of ./MUJOCO_LOG.TXT
    import mujoco

    mujoco.set_mju_user_warning(lambda msg: print(f"MuJoCo warning: {msg}", file=sys.stderr))
except Exception:  # pragma: no cover
    pass

# -- minimal JSON Schema checker -------------------------------------------------------------
_TYPES = {
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "string": lambda x: isinstance(x, str),
    "integer": lambda x: isinstance(x, int) and not isinstance(x, bool),
    "number": lambda x: isinstance(x, (int, float)) and not isinstance(x, bool),
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
}


def schema_errors(instance: Any, schema: Any, root: Dict[str, Any], path: str = "$") -> List[str]:
    """Errors of ``instance`` against ``schema`` (keywords: $ref, oneOf, type, const, enum,
    properties, required, additionalProperties, items, prefixItems, minItems, maxItems, minimum,
    maximum, minLength, pattern). Unknown keywords are an error, so the checker never silently passes."""
    import re

    if schema is True:
        return []
    if schema is False:
        return [f"{path}: not allowed"]
    errs: List[str] = []
    known = {
        "$ref", "oneOf", "type", "const", "enum", "properties", "required", "additionalProperties",
        "items", "prefixItems", "minItems", "maxItems", "minimum", "maximum", "minLength", "pattern",
        "description", "title", "$schema", "$id", "$defs",
    }
    unknown = set(schema) - known
    if unknown:
        raise AssertionError(f"schema keyword(s) {unknown} not supported by the test checker")
    if "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/$defs/"), ref
        errs += schema_errors(instance, root["$defs"][ref[len("#/$defs/"):]], root, path)
    if "oneOf" in schema:
        ok = [s for s in schema["oneOf"] if not schema_errors(instance, s, root, path)]
        if len(ok) != 1:
            errs.append(f"{path}: matches {len(ok)} of the oneOf alternatives")
    if "type" in schema and not _TYPES[schema["type"]](instance):
        return errs + [f"{path}: not of type {schema['type']}"]
    if "const" in schema and not (instance == schema["const"] and type(instance) is type(schema["const"])):
        errs.append(f"{path}: must be {schema['const']!r}")
    if "enum" in schema and instance not in schema["enum"]:
        errs.append(f"{path}: must be one of {schema['enum']}")
    if isinstance(instance, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in instance:
                errs.append(f"{path}: lacks {key!r}")
        for key, val in instance.items():
            if key in props:
                errs += schema_errors(val, props[key], root, f"{path}.{key}")
            elif "additionalProperties" in schema:
                errs += schema_errors(val, schema["additionalProperties"], root, f"{path}.{key}")
    if isinstance(instance, list):
        prefix = schema.get("prefixItems", [])
        for i, val in enumerate(instance):
            sub = prefix[i] if i < len(prefix) else schema.get("items", True)
            errs += schema_errors(val, sub, root, f"{path}[{i}]")
        if len(instance) < schema.get("minItems", 0):
            errs.append(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(instance) > schema["maxItems"]:
            errs.append(f"{path}: more than {schema['maxItems']} items")
    if isinstance(instance, (int, float)) and not isinstance(instance, bool) and "minimum" in schema:
        if instance < schema["minimum"]:
            errs.append(f"{path}: below {schema['minimum']}")
    if isinstance(instance, (int, float)) and not isinstance(instance, bool) and "maximum" in schema:
        if instance > schema["maximum"]:
            errs.append(f"{path}: above {schema['maximum']}")
    if isinstance(instance, str):
        if len(instance) < schema.get("minLength", 0):
            errs.append(f"{path}: shorter than {schema['minLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], instance):
            errs.append(f"{path}: does not match {schema['pattern']}")
    return errs


@pytest.fixture(scope="session")
def protocol_schema() -> Dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())


def assert_valid(header: Dict[str, Any], schema: Dict[str, Any]) -> None:
    errs = schema_errors(header, schema, schema)
    assert not errs, f"{header.get('type')} header violates the schema: {errs}\n{header}"


# -- a bridge subprocess ---------------------------------------------------------------------
class Bridge:
    """A bridge child process connected to a REQ socket bound here; headers are schema-checked
    unless ``check=False`` is passed to :meth:`request`."""

    def __init__(self, schema: Dict[str, Any], token: str = "secret-token", extra_args=(), env_extra=None):
        self.schema = schema
        self.token = token
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.REQ)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind("tcp://127.0.0.1:*")
        self.endpoint = self.sock.getsockopt(zmq.LAST_ENDPOINT).decode()
        env = dict(os.environ)
        env["SPARSE_RL_BRIDGE_TOKEN"] = token
        env["PYTHONPATH"] = os.pathsep.join([str(SRC), str(HERE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        env.update(env_extra or {})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sparse_rl_bridge", "--connect", self.endpoint, *extra_args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.seq = 0

    def request(self, msg_type: str, fields=None, arrays=None, timeout: float = 60.0, check: bool = True, raw=None) -> P.Message:
        self.seq += 1
        frames = raw if raw is not None else P.encode(msg_type, self.seq, fields, arrays)
        if check and raw is None:
            assert_valid(json.loads(bytes(frames[0])), self.schema)
        self.sock.send_multipart(frames)
        if not self.sock.poll(int(timeout * 1000)):
            raise TimeoutError(f"no reply to {msg_type} within {timeout} s")
        reply = P.decode(self.sock.recv_multipart())
        assert_valid(reply.header, self.schema)
        return reply

    def hello(self, env_id: str = "InvertedPendulum-v5", num_envs: int = 1, **extra) -> P.Message:
        """HELLO as a client of this protocol version with every capability (override with ``extra``)."""
        from sparse_rl_bridge import CAPABILITIES, PROTOCOL_VERSION  # noqa: PLC0415

        fields = {"token": self.token, "env_id": env_id, "kwargs": {}, "num_envs": num_envs,
                  "protocol": PROTOCOL_VERSION, "capabilities": list(CAPABILITIES), **extra}
        return self.request(P.HELLO, fields)

    def wait_exit(self, timeout: float = 10.0) -> int:
        return self.proc.wait(timeout)

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return ""
        return self.proc.stderr.read().decode(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc.stderr.close()
        self.sock.close()
        self.ctx.term()


def closing_factory(cls, protocol_schema):
    """Fixture body: yields ``make(**kw)`` building ``cls(protocol_schema, **kw)``; closes every one made."""
    made = []

    def make(**kw):
        b = cls(protocol_schema, **kw)
        made.append(b)
        return b

    yield make
    for b in made:
        b.close()


@pytest.fixture
def bridge_factory(protocol_schema):
    yield from closing_factory(Bridge, protocol_schema)


@pytest.fixture
def bridge(bridge_factory) -> Bridge:
    return bridge_factory()


def actions(n: int, d: int, value: float = 0.0, dtype=np.float32) -> np.ndarray:
    return np.full((n, d), value, dtype=dtype)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie (exited, not yet reaped by a reparenting init) counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def wait_gone(pid: int, timeout: float) -> bool:
    """Whether process ``pid`` exits (or is a zombie) within ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if _gone(pid):
            return True
        time.sleep(0.05)
    return _gone(pid)


__all__ = ["Bridge", "assert_valid", "schema_errors", "actions", "wait_gone", "Optional"]
