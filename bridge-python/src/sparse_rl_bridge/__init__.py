"""sparse-rl-bridge: serves Gymnasium vector environments to the sparse-rl trainer over ZeroMQ.

This module is deliberately free of third-party imports so that ``python -m sparse_rl_bridge``
can report missing dependencies (numpy, pyzmq, gymnasium) with one clear message instead of a
traceback. The protocol is described in ``bridge-python/README.md`` and, for the JSON headers,
in ``schemas/bridge-protocol.schema.json``.

Modules: ``protocol`` (wire encoding), ``spaces`` (space descriptions and the flat layout),
``vector_env`` (the sync / async vector environments and STEP action validation), ``env_state``
(the GET_STATE / SET_STATE payload), ``video`` (render-mode policy, offscreen video), ``server``
(the protocol state machine of one session, ``BridgeServer``), ``serve`` (the socket loops,
``serve()``: one session over a REP socket when spawned, many sessions over a ROUTER socket in
``sparse-rl-bridge serve``),
``errors`` (request errors), ``ipc_dir`` (socket folder clean-up), ``__main__`` (command line).
"""

__version__ = "0.4.0"

#: Version of the wire protocol spoken by this bridge (``"major.minor"``). Semver rule: peers
#: with another major number are refused at HELLO (the ERROR names both versions); peers with
#: another minor number are served with the capabilities both sides know (a warning is logged).
#: 1.3: ``serve`` keeps one session per client connection (WELCOME ``session``), and nothing but
#: HELLO is answered before HELLO (PING and CLOSE included).
PROTOCOL_VERSION = "1.3"

#: Optional protocol features of this bridge. HELLO lists the client's; WELCOME answers with the
#: intersection, and only those are used for the session. A 1.0 peer sends none.
#:
#: - ``vectorization.async``: HELLO ``vectorization: "async"`` (Gymnasium AsyncVectorEnv).
#: - ``spaces.extended``: MultiDiscrete / MultiBinary spaces and flattened Dict / Tuple observations.
#: - ``actions.clip``: out-of-bound Box actions are clipped and counted in ``actions_clipped``.
#: - ``state.snapshot`` (1.2): GET_STATE / SET_STATE capture and restore the envs mid-episode.
#: - ``render.video`` (1.2): HELLO ``video`` records every episode to MP4 (offscreen rendering).
CAPABILITIES = ("vectorization.async", "spaces.extended", "actions.clip", "state.snapshot", "render.video")

__all__ = ["__version__", "PROTOCOL_VERSION", "CAPABILITIES"]
