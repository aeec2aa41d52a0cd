"""Reader of sparse-rl's compressed policy checkpoints (format ``sparse-rl-sparse-policy-1``).

NumPy only: the safetensors header is parsed with ``json`` and the tensors are read with
``numpy.frombuffer``. The format (documented in ``src/export/sparse-safetensors.ts``) stores each
layer of the policy in its own storage:

- ``dense``: ``<layer>.weight`` float32 ``[out, in]``;
- ``csr``: ``<layer>.row_ptr`` uint32 ``[out + 1]``, ``<layer>.col_idx`` uint16/uint32 ``[nnz]``,
  ``<layer>.values`` float32 ``[nnz]`` (``scipy.sparse.csr_matrix``'s indptr, indices, data);
- ``nm``: ``<layer>.nm_values`` float32 ``[out, groups, n]`` and ``<layer>.nm_idx`` uint8 (position
  inside the group of m consecutive inputs ``g*m .. g*m + m - 1``; slots of value 0 are padding);
- ``circulant``: ``<layer>.vectors`` float32 ``[active_blocks, b]`` and ``<layer>.block_idx``
  ``[active_blocks]`` (flat ``i * in_blocks + j``): ``W[i*b + r, j*b + s] = v[(s - r) % b]``
  (CirCNN / GST), W cropped to ``[out, in]``;

plus ``<layer>.bias`` float32 ``[out]`` and ``action_low`` / ``action_high``. The forward pass is
``x = act(W x + b)`` per layer, the slice ``[output_offset, output_offset + action_size)``, tanh when
``squash == "tanh"``, then ``action = low + (a + 1) * (high - low) / 2`` (env units).

Usage::

    python -m sparse_rl_bridge.sparse_policy FILE [--obs 0.1,0.2,...]

prints the metadata and the layers (and the action for ``--obs``). Importable::

    from sparse_rl_bridge.sparse_policy import load_sparse_policy
    policy = load_sparse_policy("policy.sparse.safetensors")
    policy.layers[0]["weight"]   # dense float32 [out, in]
    policy.act(obs)              # [obs_dim] or [n, obs_dim] -> env units (float64)
"""

import json
import struct
import sys

import numpy as np

FORMAT = "sparse-rl-sparse-policy-1"
_DTYPES = {"F32": "<f4", "F64": "<f8", "U8": "u1", "I8": "i1", "U16": "<u2", "I16": "<i2", "U32": "<u4", "I32": "<i4", "U64": "<u8", "I64": "<i8"}


def read_safetensors(path):
    """Returns ``(tensors, metadata)`` of a safetensors file: name -> ndarray (read-only views), str -> str."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: {len(data)} bytes, not a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError(f"{path}: header length {n} runs past the end of the file")
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", None) or {}
    tensors = {}
    for name, e in header.items():
        if e["dtype"] not in _DTYPES:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {e['dtype']}")
        begin, end = e["data_offsets"]
        dtype = np.dtype(_DTYPES[e["dtype"]])
        count = int(np.prod(e["shape"], dtype=np.int64))
        if end - begin != count * dtype.itemsize or 8 + n + end > len(data):
            raise ValueError(f"{path}: tensor {name}: data_offsets {e['data_offsets']} do not match shape {e['shape']} of {e['dtype']}")
        tensors[name] = np.frombuffer(data, dtype=dtype, count=count, offset=8 + n + begin).reshape(e["shape"])
    return tensors, metadata


def dense_weight(record, tensors):
    """The dense float32 ``[out, in]`` weight of one layer record (``__metadata__.layers[k]``)."""
    name, kind, out, n_in = record["name"], record["kind"], record["out"], record["in"]
    t = lambda suffix: tensors[f"{name}.{suffix}"]
    if kind == "dense":
        return np.array(t("weight"), dtype=np.float32).reshape(out, n_in)
    w = np.zeros((out, n_in), dtype=np.float32)
    if kind == "csr":
        row_ptr, col, val = t("row_ptr").astype(np.int64), t("col_idx").astype(np.int64), t("values")
        rows = np.repeat(np.arange(out), np.diff(row_ptr))
        w[rows, col] = val
    elif kind == "nm":
        m, groups, n = record["m"], record["groups"], record["n"]
        val, idx = t("nm_values"), t("nm_idx").astype(np.int64)
        cols = np.arange(groups)[None, :, None] * m + idx  # [out, groups, n]
        rows = np.broadcast_to(np.arange(out)[:, None, None], cols.shape)
        keep = val != 0  # slots of value 0 are padding
        w[rows[keep], cols[keep]] = val[keep]
    elif kind == "circulant":
        b, in_blocks, out_blocks = record["block_size"], record["in_blocks"], record["out_blocks"]
        full = np.zeros((out_blocks * b, in_blocks * b), dtype=np.float32)
        diag = (np.arange(b)[None, :] - np.arange(b)[:, None]) % b  # [r, s] -> (s - r) mod b
        for v, k in zip(t("vectors"), t("block_idx").astype(np.int64)):
            i, j = divmod(int(k), in_blocks)
            full[i * b : (i + 1) * b, j * b : (j + 1) * b] = v[diag]
        w[:] = full[:out, :n_in]
    else:
        raise ValueError(f"layer {name}: unknown storage kind {kind!r}")
    return w


_ACT = {"relu": lambda x: np.maximum(x, 0.0), "tanh": np.tanh, "linear": lambda x: x}


class SparsePolicy:
    """A policy read from a ``sparse-rl-sparse-policy-1`` file: ``layers`` (dicts with ``name``,
    ``kind``, ``activation``, dense ``weight`` [out, in] and ``bias`` [out], float32), ``metadata``,
    ``act(obs)``."""

    def __init__(self, path):
        tensors, self.metadata = read_safetensors(path)
        if self.metadata.get("format") != FORMAT:
            raise ValueError(f"{path}: __metadata__.format is {self.metadata.get('format')!r}, not {FORMAT}")
        self.layers = []
        for r in json.loads(self.metadata["layers"]):
            self.layers.append({**r, "weight": dense_weight(r, tensors), "bias": np.array(tensors[f"{r['name']}.bias"], dtype=np.float32)})
        self.output_offset = int(self.metadata["output_offset"])
        self.action_size = int(self.metadata["action_size"])
        self.squash = self.metadata["squash"]
        self.low = np.array(tensors["action_low"], dtype=np.float64)
        self.high = np.array(tensors["action_high"], dtype=np.float64)

    def act(self, obs):
        """``[obs_dim]`` or ``[n, obs_dim]`` observations (env units) -> actions (env units), in float64."""
        x = np.asarray(obs, dtype=np.float64)
        for layer in self.layers:
            x = _ACT[layer["activation"]](x @ layer["weight"].astype(np.float64).T + layer["bias"])
        a = x[..., self.output_offset : self.output_offset + self.action_size]
        if self.squash == "tanh":
            a = np.tanh(a)
        return self.low + (a + 1.0) * (self.high - self.low) / 2.0

    __call__ = act


def load_sparse_policy(path):
    """Reads a ``sparse-rl-sparse-policy-1`` file. Raises ValueError naming the file when it is not one."""
    return SparsePolicy(path)


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    policy = load_sparse_policy(argv[0])
    m = policy.metadata
    print(f"{argv[0]}: {m['format']}, env {m.get('env_id', '?')}, obs {m['observation_size']} -> action {m['action_size']}, squash {m['squash']}, output offset {m['output_offset']}")
    for layer in policy.layers:
        w = layer["weight"]
        extra = f" {layer['n']}:{layer['m']}" if layer["kind"] == "nm" else f" b={layer['block_size']}" if layer["kind"] == "circulant" else ""
        print(f"  {layer['name']}: {w.shape[0]}x{w.shape[1]} {layer['kind']}{extra}, {layer['activation']}, {np.count_nonzero(w)} non-zeros ({np.count_nonzero(w) / w.size:.1%} dense)")
    if "storage_bytes" in m:
        print(f"  storage {m['storage_bytes']} bytes vs {m['dense_bytes']} dense float32")
    if len(argv) >= 3 and argv[1] == "--obs":
        obs = np.array([float(v) for v in argv[2].split(",")])
        print("action:", " ".join(f"{v:.9g}" for v in policy.act(obs)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
