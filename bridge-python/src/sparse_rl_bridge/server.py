"""The protocol state machine of one bridge session: :class:`BridgeServer`.

The TypeScript client binds a loopback endpoint and spawns ``python -m sparse_rl_bridge
--connect <endpoint>``; the bridge connects, authenticates the client's HELLO with the token
from ``SPARSE_RL_BRIDGE_TOKEN``, and then answers RESET / STEP / PING / CLOSE requests strictly
one at a time (and, with the ``state.snapshot`` capability, GET_STATE / SET_STATE). Nothing but
HELLO is answered before the HELLO was accepted (every other request gets an ERROR). In server
mode (``sparse-rl-bridge serve``) there is one :class:`BridgeServer` per session, i.e. per client
connection (see :mod:`.serve`). See ``bridge-python/README.md`` for the protocol.

The vector environments a session serves are in :mod:`.vector_env` (same-step autoreset
semantics are described there) and the ZeroMQ socket loops, :func:`~sparse_rl_bridge.serve.serve`,
are in :mod:`.serve`; :func:`serve_stream` at the end of this module is the loop of the
``unix://`` transport (the same protocol over a plain Unix stream socket, no ZeroMQ).
"""

from __future__ import annotations

import hmac
import json
import os
import platform
import sys
import traceback
from typing import Any, Dict, Optional, Sequence, Tuple

import gymnasium as gym
import numpy as np
import zmq

from . import CAPABILITIES, PROTOCOL_VERSION, __version__
from . import protocol as P
from .env_state import STATE_FORMAT, STATE_FORMAT_VERSION, NotRestorable, decode_payload, encode_payload
from .errors import FatalRequestError, RequestError
from .spaces import encode_space
from .vector_env import AsyncVectorEnvAdapter, Frames, VectorEnv
from .video import check_render_mode, parse_video


def versions() -> Dict[str, str]:
    """Versions reported in WELCOME: bridge, protocol, python, gymnasium, numpy, pyzmq, libzmq,
    and mujoco when importable."""
    out = {
        "bridge": __version__,
        "protocol": PROTOCOL_VERSION,
        "python": platform.python_version(),
        "gymnasium": gym.__version__,
        "numpy": np.__version__,
        "pyzmq": zmq.__version__,
        "libzmq": zmq.zmq_version(),
    }
    try:
        import mujoco  # noqa: PLC0415

        out["mujoco"] = mujoco.__version__
    except Exception:  # pragma: no cover - mujoco is optional for non-MuJoCo envs
        pass
    return out


def _route_mujoco_warnings(log) -> None:
    """Sends MuJoCo warnings to stderr (once per text) instead of MUJOCO_LOG.TXT in the cwd."""
    try:
        import mujoco  # noqa: PLC0415
    except Exception:
        return
    seen = set()

    def warn(msg: str) -> None:
        if msg not in seen:
            seen.add(msg)
            print(f"MuJoCo warning: {msg}", file=log, flush=True)

    try:
        mujoco.set_mju_user_warning(warn)
    except Exception:  # pragma: no cover
        pass


def _mujoco_gl_error() -> Optional[str]:
    """Why MuJoCo cannot be imported when ``MUJOCO_GL`` is set (it loads that OpenGL backend at
    import), else None."""
    gl = os.environ.get("MUJOCO_GL")
    if not gl:
        return None
    try:
        import mujoco  # noqa: F401, PLC0415
    except Exception as exc:
        return f"MuJoCo cannot be imported with MUJOCO_GL={gl} ({type(exc).__name__}: {exc}); install that backend's libraries or unset MUJOCO_GL"
    return None


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


_F4 = np.dtype("<f4")

#: Most sub-environments one HELLO may ask for (guards against absurd requests).
MAX_NUM_ENVS = 1024


class BridgeServer:
    """Protocol state machine of one session: turns one decoded request into one reply.

    Before a HELLO with the right token has created the environment, every request but HELLO
    gets an ERROR (``no environment: send HELLO first``), PING and CLOSE included.

    :param token: the secret the client must present in HELLO.
    :param log: text stream for diagnostics (stderr).
    :param session: the session number given out by ``sparse-rl-bridge serve`` (sent in WELCOME
        as ``session`` and named in the log lines); None for a spawned bridge.
    :param peer: description of the client for log lines (e.g. ``peer 127.0.0.1, CURVE key
        <Z85>``); None for a spawned bridge.
    :param refusals: a shared counter ``{"bad_tokens": n}`` of wrong-token HELLOs (server mode
        keeps one for all its sessions); default a private one.
    """

    def __init__(self, token: str, log=sys.stderr, session: Optional[int] = None, peer: Optional[str] = None, refusals: Optional[Dict[str, int]] = None):
        self.token = token
        self.log = log
        self.session = session
        self.peer = peer
        self.refusals = refusals if refusals is not None else {"bad_tokens": 0}
        self.vec: Optional[VectorEnv] = None
        #: ``env_id`` and ``kwargs`` of the session (recorded in and checked against state payloads).
        self.env_id: Optional[str] = None
        self.kwargs: Dict[str, Any] = {}
        self.default_seed: Optional[int] = None
        self.first_reset = True
        #: Capabilities agreed with the client at HELLO.
        self.capabilities: Tuple[str, ...] = ()
        #: Set when the server must exit after sending the current reply.
        self.stop = False
        #: Process exit code to use when :attr:`stop` is set (0 after CLOSE, 2 when fatal).
        self.exit_code = 0
        #: STEP_RESULT header bytes (before, after the seq) by observations shape.
        self._step_heads: Dict[Tuple[Any, ...], Tuple[bytes, bytes]] = {}

    @property
    def bad_tokens(self) -> int:
        """Wrong-token HELLOs seen (each gets an ERROR; the server keeps serving)."""
        return self.refusals["bad_tokens"]

    def _label(self) -> str:
        """``"session N (peer …): "`` for log lines in server mode, else ``""``."""
        if self.session is None:
            return f"{self.peer}: " if self.peer else ""
        return f"session {self.session} ({self.peer}): " if self.peer else f"session {self.session}: "

    def end_session(self) -> None:
        """Closes the environment, if any, and forgets the session (the token stays)."""
        if self.vec is not None:
            self.vec.close()
        self.vec = None
        self.env_id = None
        self.kwargs = {}
        self.default_seed = None
        self.first_reset = True
        self.capabilities = ()

    # -- dispatch ----------------------------------------------------------------------------
    def handle_frames(self, frames: Sequence[Any]) -> Frames:
        """Decodes ``frames``, handles the request and returns the reply frames (never raises
        for any input: every failure becomes an ERROR reply naming the problem).

        Sets :attr:`stop` when the server must exit after sending the reply (CLOSE, protocol
        major mismatch).
        """
        seq = -1
        env_index: Optional[int] = None
        try:
            try:
                msg = P.decode(frames)
            except P.ProtocolError:
                seq = self._peek_seq(frames)
                raise
            seq = msg.seq
            return self.handle(msg)
        except (FatalRequestError, P.VersionMismatch) as exc:
            if isinstance(exc, P.VersionMismatch) and self._peek_type(frames) != P.HELLO:
                # Only the handshake is fatal; a stray message of another major gets an ERROR.
                return P.encode(P.ERROR, seq, P.error_fields(exc, traceback.format_exc()))
            self.stop = True
            self.exit_code = 2
            print(f"sparse-rl-bridge: fatal: {exc}", file=self.log, flush=True)
            return P.encode(P.ERROR, seq, P.error_fields(exc, traceback.format_exc()))
        except Exception as exc:
            env_index = getattr(exc, "env_index", None)
            tb = getattr(exc, "remote_traceback", None) or traceback.format_exc()
            try:
                return P.encode(P.ERROR, seq, P.error_fields(exc, tb, env_index))
            except Exception:  # e.g. an un-encodable message: still answer
                return P.encode(P.ERROR, seq, {"exception_type": type(exc).__name__, "message": repr(exc)[:2000], "traceback": ""})

    @staticmethod
    def _peek_type(frames: Sequence[Any]) -> Any:
        try:
            raw = frames[0]
            return json.loads(bytes(raw.bytes if hasattr(raw, "bytes") else raw)).get("type")
        except Exception:
            return None

    @staticmethod
    def _peek_seq(frames: Sequence[Any]) -> int:
        try:
            raw = frames[0]
            seq = json.loads(bytes(raw.bytes if hasattr(raw, "bytes") else raw)).get("seq", -1)
            return seq if _is_int(seq) and -(2**53) < seq < 2**53 else -1
        except Exception:
            return -1

    def handle(self, msg: P.Message) -> Frames:
        """Handles one decoded request (see :meth:`handle_frames`).

        :raises RequestError: for an unknown type or a malformed request (caught by
            :meth:`handle_frames`).
        """
        t = msg.type
        if t not in P.REPLY_TYPES:
            raise RequestError(f"unknown message type {t!r} (expected one of {', '.join(P.REPLY_TYPES)})")
        if t != P.HELLO and self.vec is None:
            # Nothing but HELLO is answered before the session is authenticated.
            raise RequestError("no environment: send HELLO first")
        if t == P.STEP:
            return self._step(msg)
        if t == P.RESET:
            return self._reset(msg)
        if t == P.PING:
            return P.encode(P.PONG, msg.seq)
        if t == P.GET_STATE:
            return self._get_state(msg)
        if t == P.SET_STATE:
            return self._set_state(msg)
        if t == P.HELLO:
            return self._hello(msg)
        # t == P.CLOSE
        self.stop = True
        self.exit_code = 0
        self.end_session()
        return P.encode(P.CLOSED, msg.seq)

    # -- handlers ----------------------------------------------------------------------------
    def _negotiate(self, h: Dict[str, Any]) -> Tuple[str, ...]:
        """Protocol version and capabilities of a HELLO (semver: major must match, minor may
        differ; the session uses the common capabilities)."""
        proto = h.get("protocol", h.get("v"))
        if P.major(proto) != P.major(PROTOCOL_VERSION):
            raise P.VersionMismatch(
                f"protocol version mismatch: client speaks {proto}, this bridge speaks {PROTOCOL_VERSION}"
            )
        caps = h.get("capabilities", [])
        if not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
            raise RequestError("HELLO.capabilities must be a list of strings")
        common = tuple(c for c in CAPABILITIES if c in caps)
        if proto != PROTOCOL_VERSION:
            print(
                f"sparse-rl-bridge: warning: client speaks protocol {proto}, this bridge {PROTOCOL_VERSION}; "
                f"using the common capabilities [{', '.join(common)}]",
                file=self.log,
                flush=True,
            )
        return common

    def _hello(self, msg: P.Message) -> Frames:
        h = msg.header
        token = h.get("token")
        if not isinstance(token, str) or not hmac.compare_digest(token.encode(), self.token.encode()):
            self.refusals["bad_tokens"] += 1
            who = f" from {self.peer}" if self.peer else ""
            print(f"sparse-rl-bridge: refused a HELLO with a wrong token{who} ({self.bad_tokens} so far)", file=self.log, flush=True)
            raise RequestError("HELLO carried a wrong token")
        if self.vec is not None:
            raise RequestError("HELLO was already accepted; the environment exists")
        caps = self._negotiate(h)
        env_id = h.get("env_id")
        if not isinstance(env_id, str) or not env_id:
            raise RequestError("HELLO.env_id must be a non-empty string")
        kwargs = h.get("kwargs", {})
        if kwargs is None:
            kwargs = {}
        if not isinstance(kwargs, dict):
            raise RequestError(f"HELLO.kwargs must be a JSON object, got {type(kwargs).__name__}")
        mode_arg = kwargs.get("render_mode")
        if mode_arg is not None and not isinstance(mode_arg, str):
            raise RequestError(f"HELLO.kwargs.render_mode must be a string or null, got {json.dumps(mode_arg)[:80]}")
        check_render_mode(kwargs)
        video = parse_video(h.get("video"))
        if video is not None and "render.video" not in caps:
            raise RequestError("HELLO.video needs the 'render.video' capability")
        num_envs = h.get("num_envs", 1)
        if not _is_int(num_envs) or not 1 <= num_envs <= MAX_NUM_ENVS:
            raise RequestError(f"HELLO.num_envs must be an integer in [1, {MAX_NUM_ENVS}], got {num_envs!r}")
        seed = h.get("seed")
        if seed is not None and (not _is_int(seed) or not 0 <= seed < 2**32):
            raise RequestError(f"HELLO.seed must be an integer in [0, 2**32), got {seed!r}")
        mode = h.get("vectorization", "sync")
        if mode not in ("sync", "async"):
            raise RequestError(f"HELLO.vectorization must be 'sync' or 'async', got {mode!r}")
        if mode == "async" and "vectorization.async" not in caps:
            raise RequestError("HELLO.vectorization 'async' needs the 'vectorization.async' capability")
        cls = AsyncVectorEnvAdapter if mode == "async" else VectorEnv
        try:
            vec = cls(env_id, kwargs, num_envs, clip_actions="actions.clip" in caps, extended_spaces="spaces.extended" in caps, video=video)
        except RequestError:
            raise
        except Exception as exc:
            gl = _mujoco_gl_error()
            if gl:
                raise RequestError(gl) from exc
            raise
        try:
            fields = {
                "protocol": PROTOCOL_VERSION,
                "capabilities": list(caps),
                "versions": versions(),
                "observation_space": encode_space(vec.observation_space),
                "action_space": encode_space(vec.action_space, composite=False),
                "spec": {
                    "id": vec.spec.id if vec.spec is not None else env_id,
                    "max_episode_steps": vec.spec.max_episode_steps if vec.spec is not None else None,
                },
                "num_envs": num_envs,
                "vectorization": mode,
                "autoreset_mode": "same-step",
            }
            if self.session is not None:
                fields["session"] = self.session
        except BaseException:
            vec.close()
            raise
        self.vec = vec
        self.env_id = env_id
        self.kwargs = dict(kwargs)
        self.capabilities = caps
        self.default_seed = seed
        self.first_reset = True
        print(
            f"sparse-rl-bridge: {self._label()}serving {env_id} x{num_envs} ({mode}) "
            f"(obs {vec.obs_dim}, act {vec.act_dim}, max_episode_steps {fields['spec']['max_episode_steps']})"
            + (f"; recording every episode to {video['dir']}" if video else ""),
            file=self.log,
            flush=True,
        )
        return P.encode(P.WELCOME, msg.seq, fields)

    def _require_env(self) -> VectorEnv:
        if self.vec is None:
            raise RequestError("no environment: send HELLO first")
        return self.vec

    def _reset(self, msg: P.Message) -> Frames:
        vec = self._require_env()
        if msg.arrays:
            raise RequestError("RESET carries no arrays")
        seed = msg.header.get("seed")
        if seed is not None and (not _is_int(seed) or not 0 <= seed < 2**32):
            raise RequestError(f"RESET.seed must be an integer in [0, 2**32), got {seed!r}")
        if seed is None and self.first_reset:
            seed = self.default_seed
        obs = vec.reset(seed)
        self.first_reset = False
        return P.encode(P.RESET_RESULT, msg.seq, None, [("observations", obs)])

    def _require_state_capability(self, request: str) -> VectorEnv:
        vec = self._require_env()
        if "state.snapshot" not in self.capabilities:
            raise RequestError(f"{request} needs the 'state.snapshot' capability (protocol >= 1.2)")
        return vec

    def _get_state(self, msg: P.Message) -> Frames:
        """GET_STATE: the envs' state as an opaque payload (see :mod:`.env_state`), or
        ``restorable: false`` with the reason."""
        vec = self._require_state_capability("GET_STATE")
        if msg.arrays:
            raise RequestError("GET_STATE carries no arrays")
        try:
            obs, returns, lengths, envs = vec.get_state()
        except NotRestorable as exc:
            return P.encode(P.GET_STATE_RESULT, msg.seq, {"restorable": False, "reason": str(exc)})
        payload = encode_payload(self.env_id or "", self.kwargs, vec.mode, versions(), obs, returns, lengths, envs)
        fields = {"restorable": True, "format": STATE_FORMAT, "format_version": STATE_FORMAT_VERSION}
        return P.encode(P.GET_STATE_RESULT, msg.seq, fields, [("state", np.frombuffer(payload, dtype=np.uint8))])

    def _set_state(self, msg: P.Message) -> Frames:
        """SET_STATE: restores a GET_STATE payload of the same env id, kwargs and number of envs
        (else an ERROR naming the field; nothing changes)."""
        vec = self._require_state_capability("SET_STATE")
        state = msg.arrays.get("state")
        if state is None or len(msg.arrays) != 1 or state.dtype != np.dtype("u1") or state.ndim != 1:
            raise RequestError("SET_STATE must carry exactly one array, 'state' (uint8, 1-D)")
        doc = decode_payload(state.tobytes(), self.env_id or "", self.kwargs, vec.num_envs, vec.obs_dim, versions())
        try:
            obs = vec.set_state(doc["observations"], doc["episode_returns"], doc["episode_lengths"], doc["envs"])
        except NotRestorable as exc:
            raise RequestError(f"SET_STATE: the envs of this session cannot be restored: {exc}") from None
        self.first_reset = False  # a later RESET without seed continues the restored RNG streams
        arrays = [
            ("observations", obs),
            ("episode_returns", np.asarray(doc["episode_returns"], dtype=np.float64)),
            ("episode_lengths", np.asarray(doc["episode_lengths"], dtype=np.int64)),
        ]
        return P.encode(P.SET_STATE_RESULT, msg.seq, None, arrays)

    def _step(self, msg: P.Message) -> Frames:
        vec = self._require_env()
        if vec.needs_reset:
            raise RequestError("send RESET before STEP (after HELLO and after an environment error)")
        actions = msg.arrays.get("actions")
        if actions is None or len(msg.arrays) != 1:
            raise RequestError("STEP must carry exactly one array, 'actions'")
        if actions.dtype != _F4:
            raise RequestError(f"actions must be float32, got {msg.header['arrays'][0]['dtype']}")
        arrays, fields = vec.step(actions)
        if fields:
            return P.encode(P.STEP_RESULT, msg.seq, fields, arrays)
        # Fast path (most steps): the header differs only in seq, so it is built once. Without
        # fields the arrays are observations, rewards, terminated, truncated: the shape of the
        # observations fixes every shape.
        key = arrays[0][1].shape
        cached = self._step_heads.get(key)
        if cached is None:
            text = bytes(P.encode(P.STEP_RESULT, 0, None, arrays)[0])
            pre, post = text.split(b'"seq":0', 1)
            cached = self._step_heads[key] = (pre + b'"seq":', post)
        return [b"%s%d%s" % (cached[0], msg.seq, cached[1]), arrays[0][1], arrays[1][1], arrays[2][1], arrays[3][1]]


# -- the ``unix://`` stream transport (spawned mode) -------------------------------------------
#: Endpoint scheme of the plain Unix stream socket transport (client option ``transport: 'unix'``).
STREAM_SCHEME = "unix://"


class _StreamReader:
    """Reads whole messages of the stream framing of :func:`.protocol.stream_prefix` from a
    socket, keeping a partial message across receive timeouts."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def read(self) -> Optional[bytes]:
        """The next message (from its ``size`` field on), or None when the peer closed the
        connection.

        :raises BlockingIOError: the receive timeout passed (what was read so far is kept).
        :raises ProtocolError: a ``size`` beyond :data:`.protocol.STREAM_MAX_BYTES`.
        """
        buf = self.buf
        while True:
            total = 0
            if len(buf) >= 4:
                total = int.from_bytes(buf[:4], "little") + 4
                if total > P.STREAM_MAX_BYTES:
                    raise P.ProtocolError(f"stream message of {total} bytes announced (at most {P.STREAM_MAX_BYTES})")
                if len(buf) >= total:
                    self.buf = buf[total:]
                    return buf if len(buf) == total else buf[:total]
                if total - len(buf) > (1 << 16):
                    buf = self._read_large(buf, total)
                    continue
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                return None
            buf = buf + chunk if buf else chunk
            self.buf = buf

    def _read_large(self, buf: bytes, total: int) -> bytes:
        out = bytearray(total)
        out[: len(buf)] = buf
        view = memoryview(out)
        got = len(buf)
        try:
            while got < total:
                n = self.sock.recv_into(view[got:])
                if n == 0:
                    break
                got += n
        finally:
            self.buf = bytes(out[:got])
        return self.buf


def _send_stream(sock, frames: Sequence[Any]) -> None:
    """Sends one reply in the stream framing (one ``sendmsg`` for every frame; the rest with
    ``sendall`` if the kernel took only part of a large reply)."""
    bufs = P.stream_buffers(frames)
    sent = sock.sendmsg(bufs)
    total = int.from_bytes(bufs[0][:4], "little") + 4
    if sent < total:
        sock.sendall(b"".join(bytes(b) for b in bufs)[sent:])


def serve_stream(endpoint: str, token: str, idle_timeout: float = 0.0, parent_pid: Optional[int] = None, log=sys.stderr, cleanup=None) -> int:
    """Spawned mode over a plain Unix stream socket, ``unix://PATH`` (the client's ``transport:
    'unix'``): the same protocol, messages and exit codes as :func:`.serve.serve` over its REP
    socket, with each multipart message framed as in :func:`.protocol.stream_prefix`. There is
    no ZeroMQ I/O thread on either side, so a request and its reply cross one socket each way and
    wake one thread each (about 40 to 100 us less per STEP on a loaded 2-core machine than ZeroMQ).

    Also exits (code 4) when the client closes the connection. ``cleanup`` runs on every exit
    (removing the socket folder with ``--cleanup-ipc``).
    """
    from .serve import run_spawned  # noqa: PLC0415 - serve imports this module

    return run_spawned(lambda parent_gone: _serve_stream_loop(endpoint, token, idle_timeout, parent_gone, log), parent_pid, cleanup, log)


def _serve_stream_loop(endpoint: str, token: str, idle_timeout: float, parent_gone, log) -> int:
    import socket  # noqa: PLC0415
    import struct  # noqa: PLC0415
    from .serve import EndSession, answer_requests  # noqa: PLC0415 - serve imports this module

    _route_mujoco_warnings(log)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    poll_s = 1.0 if idle_timeout <= 0 else max(0.01, min(1.0, idle_timeout))
    # A kernel receive timeout (no poll() per request): recv raises BlockingIOError when it passes.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", int(poll_s), int((poll_s % 1) * 1e6)))
    try:
        sock.connect(endpoint[len(STREAM_SCHEME):])
    except OSError as exc:
        sock.close()
        print(f"sparse-rl-bridge: cannot connect to {endpoint}: {exc}", file=log, flush=True)
        return 4
    print(
        f"sparse-rl-bridge {__version__} (protocol {PROTOCOL_VERSION}, pid {os.getpid()}) connected to {endpoint}",
        file=log,
        flush=True,
    )
    reader = _StreamReader(sock)

    def fail(exc: OSError) -> EndSession:
        print(f"sparse-rl-bridge: the client connection failed ({exc}); exiting", file=log, flush=True)
        return EndSession(4)

    def receive():
        while True:
            try:
                data = reader.read()
            except BlockingIOError:
                return None
            except P.ProtocolError as exc:  # a corrupt size: the stream cannot be read on
                print(f"sparse-rl-bridge: fatal: {exc}", file=log, flush=True)
                _send_stream(sock, P.encode(P.ERROR, -1, P.error_fields(exc, "")))
                raise EndSession(2) from exc
            except OSError as exc:
                raise fail(exc) from exc
            if data is None:
                print("sparse-rl-bridge: the client closed the connection; exiting", file=log, flush=True)
                raise EndSession(4)
            try:
                return P.stream_split(data)
            except P.ProtocolError as exc:  # the stream stays in step: answer like a bad message
                send(P.encode(P.ERROR, -1, P.error_fields(exc, "")))

    def send(reply) -> None:
        try:
            _send_stream(sock, reply)
        except OSError as exc:
            raise fail(exc) from exc

    try:
        return answer_requests(BridgeServer(token, log), receive, send, idle_timeout, parent_gone, log)
    finally:
        sock.close()
