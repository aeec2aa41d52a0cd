/**
 * Wire format of the sparse-rl Gymnasium bridge, protocol version 1.3 (TypeScript side).
 *
 * A message is a ZeroMQ multipart message. Frame 0 is a UTF-8 JSON header
 * `{ "v": "1.3", "type": ..., "seq": int, ... }`; when the message carries arrays the header lists
 * them in `"arrays": [{ "name", "dtype", "shape" }]` and every further frame holds the raw bytes of
 * one array (little-endian, C-contiguous), in that order. Headers use snake_case; this module is
 * the only place where they are mapped to and from the camelCase TypeScript types.
 *
 * Non-finite floats inside headers (Box bounds, episode returns) travel as the strings `"inf"`,
 * `"-inf"`, `"nan"`, so headers stay strict JSON.
 *
 * The JSON Schema of every header is `schemas/bridge-protocol.schema.json`; the protocol is
 * described in full in `bridge-python/README.md`.
 */
import { endianness } from 'node:os';
import type { EnvironmentSnapshot, EpisodeStatistics, Space, StepResult } from '../../src/index.js';

/**
 * Protocol version spoken by this client. Semver: a bridge of another major is refused at the
 * handshake (the error names both versions); another minor is used with the common
 * {@link CAPABILITIES} and a warning. 1.3: `sparse-rl-bridge serve` keeps one session per client
 * connection (WELCOME `session`), and a bridge answers nothing but HELLO before HELLO.
 */
export const PROTOCOL_VERSION = '1.3';

/**
 * Optional features this client understands (HELLO lists them; WELCOME answers the common ones):
 * `vectorization.async` (Gymnasium AsyncVectorEnv), `spaces.extended` (MultiDiscrete,
 * MultiBinary, flattened Dict/Tuple observations), `actions.clip` (out-of-bound Box actions
 * clipped and counted); since 1.2 `state.snapshot` (GET_STATE / SET_STATE) and `render.video`
 * (HELLO `video`: every episode recorded to MP4).
 */
export const CAPABILITIES = ['vectorization.async', 'spaces.extended', 'actions.clip', 'state.snapshot', 'render.video'] as const;

/** How the bridge steps its sub-environments: in order in one process, or in worker processes. */
export type Vectorization = 'sync' | 'async';

/** Message types: requests (client → bridge) and replies (bridge → client). */
export type MessageType =
  | 'HELLO'
  | 'WELCOME'
  | 'RESET'
  | 'RESET_RESULT'
  | 'STEP'
  | 'STEP_RESULT'
  | 'CLOSE'
  | 'CLOSED'
  | 'PING'
  | 'PONG'
  | 'GET_STATE'
  | 'GET_STATE_RESULT'
  | 'SET_STATE'
  | 'SET_STATE_RESULT'
  | 'ERROR';

/** Element types allowed in array frames. */
export type WireDType = 'float32' | 'float64' | 'uint8' | 'int32' | 'int64';

/** Typed arrays that can be carried in array frames. */
export type WireArray = Float32Array | Float64Array | Uint8Array | Int32Array | BigInt64Array;

/** Describes one array frame in a header's `arrays` list. */
export interface ArrayDescriptor {
  readonly name: string;
  readonly dtype: WireDType;
  readonly shape: readonly number[];
}

/** A header as it travels (snake_case fields, JSON data only). */
export interface WireHeader {
  readonly v: string;
  readonly type: MessageType | string;
  readonly seq: number;
  readonly arrays?: readonly ArrayDescriptor[];
  readonly [field: string]: unknown;
}

/** A decoded message: its header and its arrays by name (views of the frames where aligned). */
export interface DecodedMessage {
  readonly header: WireHeader;
  readonly arrays: ReadonlyMap<string, WireArray>;
}

/** An array to send: its name, data and shape (`prod(shape) === data.length`). */
export interface OutgoingArray {
  readonly name: string;
  readonly data: WireArray;
  readonly shape: readonly number[];
}

/** A malformed message, or a peer speaking another major protocol version. */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

const LITTLE_ENDIAN = endianness() === 'LE';

const ARRAY_TYPES: Record<WireDType, { ctor: { new (buffer: ArrayBufferLike, offset: number, length: number): WireArray; new (length: number): WireArray }; size: number }> = {
  float32: { ctor: Float32Array, size: 4 },
  float64: { ctor: Float64Array, size: 8 },
  uint8: { ctor: Uint8Array, size: 1 },
  int32: { ctor: Int32Array, size: 4 },
  int64: { ctor: BigInt64Array, size: 8 },
};

function dtypeOf(data: WireArray): WireDType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof BigInt64Array) return 'int64';
  throw new ProtocolError('unsupported array type');
}

/** The major number of a `"major.minor"` version. @throws ProtocolError for another form. */
export function majorOf(version: unknown): number {
  const m = typeof version === 'string' ? /^(\d+)\.\d+$/.exec(version) : null;
  if (!m) throw new ProtocolError(`protocol version must look like "1.0", got ${JSON.stringify(version)}`);
  return Number(m[1]);
}

const MAJOR = majorOf(PROTOCOL_VERSION);

/** Throws unless this machine is little-endian (the wire byte order, read without swapping). */
export function assertLittleEndian(): void {
  if (!LITTLE_ENDIAN) throw new ProtocolError('the bridge protocol needs a little-endian host');
}

/**
 * Encodes a message into frames: `[header JSON, ...array bytes]`.
 * Array frames are zero-copy views of `arrays[i].data`; do not modify them until the reply to this
 * request has arrived.
 * @param fields header fields besides `v`, `type`, `seq`, `arrays` (JSON data, snake_case).
 * @throws ProtocolError when an array's length does not match its shape.
 */
export function encodeMessage(
  type: MessageType,
  seq: number,
  fields?: Readonly<Record<string, unknown>>,
  arrays?: readonly OutgoingArray[],
): { header: WireHeader; frames: Buffer[] } {
  const header: Record<string, unknown> = { v: PROTOCOL_VERSION, type, seq, ...fields };
  const frames: Buffer[] = [];
  if (arrays && arrays.length > 0) {
    const descs: ArrayDescriptor[] = [];
    for (const a of arrays) {
      const count = a.shape.reduce((x, y) => x * y, 1);
      if (count !== a.data.length) {
        throw new ProtocolError(`array '${a.name}': shape [${a.shape.join(', ')}] needs ${count} elements, got ${a.data.length}`);
      }
      descs.push({ name: a.name, dtype: dtypeOf(a.data), shape: [...a.shape] });
      frames.push(Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength));
    }
    header.arrays = descs;
  }
  frames.unshift(Buffer.from(JSON.stringify(header), 'utf8'));
  return { header: header as WireHeader, frames };
}

/**
 * Decodes received frames. Array data are views of the frames when suitably aligned, copies
 * otherwise (never shared with later messages).
 * @throws ProtocolError for a header that is not a JSON object with `v`/`type`/`seq`, a frame
 *   count or byte length that does not match `arrays`, an unknown dtype, or another major version.
 */
export function decodeMessage(frames: readonly Buffer[]): DecodedMessage {
  if (frames.length === 0) throw new ProtocolError('empty message');
  let header: WireHeader;
  try {
    header = JSON.parse(frames[0].toString('utf8')) as WireHeader;
  } catch (e) {
    throw new ProtocolError(`frame 0 is not a JSON header: ${(e as Error).message}`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw new ProtocolError('frame 0 must be a JSON object');
  if (typeof header.type !== 'string' || typeof header.seq !== 'number') throw new ProtocolError('header lacks "type" or "seq"');
  if (header.v !== PROTOCOL_VERSION && majorOf(header.v) !== MAJOR) {
    throw new ProtocolError(`protocol version mismatch: bridge speaks ${String(header.v)}, this client speaks ${PROTOCOL_VERSION}`);
  }
  const rawDescs: unknown = header.arrays ?? [];
  if (!Array.isArray(rawDescs) || rawDescs.length !== frames.length - 1) {
    throw new ProtocolError(`header describes ${Array.isArray(rawDescs) ? rawDescs.length : 'no'} arrays, message has ${frames.length - 1} array frames`);
  }
  const descs = rawDescs as ArrayDescriptor[];
  const arrays = new Map<string, WireArray>();
  for (let i = 0; i < descs.length; i++) {
    const d = descs[i];
    const t = Object.hasOwn(ARRAY_TYPES, d.dtype) ? ARRAY_TYPES[d.dtype] : undefined;
    if (!t) throw new ProtocolError(`array '${d.name}': unknown dtype ${JSON.stringify(d.dtype)}`);
    let count = 1;
    for (const s of d.shape) count *= s;
    const f = frames[i + 1];
    if (f.byteLength !== count * t.size) {
      throw new ProtocolError(`array '${d.name}': ${d.dtype}[${d.shape.join(', ')}] needs ${count * t.size} bytes, frame has ${f.byteLength}`);
    }
    let arr: WireArray;
    if (f.byteOffset % t.size === 0) {
      arr = new t.ctor(f.buffer, f.byteOffset, count);
    } else {
      arr = new t.ctor(count);
      new Uint8Array(arr.buffer).set(f);
    }
    arrays.set(d.name, arr);
  }
  return { header, arrays };
}

// ---------------------------------------------------------------------------------------------
// Typed messages (snake_case ↔ camelCase)
// ---------------------------------------------------------------------------------------------

/** Fields of HELLO. `kwargs` are passed to `gymnasium.make(envId, **kwargs)` (JSON data only). */
export interface Hello {
  readonly token: string;
  readonly envId: string;
  readonly kwargs: Readonly<Record<string, unknown>>;
  readonly numEnvs: number;
  /** Default seed of the first RESET that has none (env `i` gets `seed + i`). */
  readonly seed?: number;
  /** Default `'sync'`; `'async'` needs the `vectorization.async` capability. */
  readonly vectorization?: Vectorization;
  /** Record every episode to MP4 (`render.video` capability; sync only). */
  readonly video?: VideoRequest;
}

/** HELLO `video`: where the bridge writes `<namePrefix>-episode-<k>.mp4`. */
export interface VideoRequest {
  /** Absolute folder on the bridge's machine. */
  readonly dir: string;
  /** Default `'eval'`; `[A-Za-z0-9._-]+`. */
  readonly namePrefix?: string;
}

/** Fields of WELCOME. */
export interface Welcome {
  /** `bridge`, `protocol`, `python`, `gymnasium`, `numpy`, `pyzmq`, `libzmq`, `mujoco` (if importable). */
  readonly versions: Readonly<Record<string, string>>;
  readonly observationSpace: Space;
  readonly actionSpace: Space;
  readonly spec: { readonly id: string; readonly maxEpisodeSteps: number | null };
  readonly numEnvs: number;
  readonly autoresetMode: 'same-step';
  /** The bridge's protocol version (`"1.0"` for a bridge that predates the field). */
  readonly protocol: string;
  /** Capabilities used for this session (known to both sides). */
  readonly capabilities: readonly string[];
  readonly vectorization: Vectorization;
  /**
   * Number of this connection's session on a `sparse-rl-bridge serve` (1.3; named in the server's
   * log lines); absent for a spawned bridge.
   */
  readonly session?: number;
}

/** Fields of ERROR. */
export interface RemoteError {
  /** Qualified Python class name, e.g. `ValueError`, `gymnasium.error.NameNotFound`. */
  readonly exceptionType: string;
  readonly message: string;
  readonly traceback: string;
  /** The sub-environment that raised, when the error came from one. */
  readonly envIndex?: number;
}

/** HELLO header fields (snake_case). */
export function helloFields(h: Hello): Record<string, unknown> {
  const f: Record<string, unknown> = {
    token: h.token,
    env_id: h.envId,
    kwargs: h.kwargs,
    num_envs: h.numEnvs,
    protocol: PROTOCOL_VERSION,
    capabilities: [...CAPABILITIES],
  };
  if (h.seed !== undefined) f.seed = h.seed;
  if (h.vectorization !== undefined) f.vectorization = h.vectorization;
  if (h.video !== undefined) f.video = { dir: h.video.dir, ...(h.video.namePrefix !== undefined ? { name_prefix: h.video.namePrefix } : {}) };
  return f;
}

/** RESET header fields (snake_case). */
export function resetFields(seed?: number): Record<string, unknown> {
  return seed === undefined ? {} : { seed };
}

/** Encodes one Box bound or episode return for JSON: ±Infinity/NaN as "inf"/"-inf"/"nan". */
export function encodeFloat(x: number): number | string {
  if (Number.isFinite(x)) return x;
  if (Number.isNaN(x)) return 'nan';
  return x > 0 ? 'inf' : '-inf';
}

/** Inverse of {@link encodeFloat}. @throws ProtocolError for any other value. */
export function decodeFloat(x: unknown): number {
  if (typeof x === 'number') return x;
  if (x === 'inf') return Infinity;
  if (x === '-inf') return -Infinity;
  if (x === 'nan') return NaN;
  throw new ProtocolError(`expected a number or "inf"/"-inf"/"nan", got ${JSON.stringify(x)}`);
}

function ints(x: unknown, what: string): number[] {
  if (!Array.isArray(x) || !x.every((v) => Number.isInteger(v))) throw new ProtocolError(`${what} must be a list of integers`);
  return (x as number[]).slice();
}

/** Decodes a space description of WELCOME (see {@link Space}). @throws ProtocolError for an unknown or malformed space. */
export function decodeSpace(s: unknown): Space {
  const o = s as Record<string, unknown>;
  switch (o?.type) {
    case 'box':
      return {
        type: 'box',
        shape: ints(o.shape, 'box.shape'),
        dtype: String(o.dtype),
        low: (o.low as unknown[]).map(decodeFloat),
        high: (o.high as unknown[]).map(decodeFloat),
      };
    case 'discrete':
      return { type: 'discrete', n: Number(o.n), start: Number(o.start) };
    case 'multi-discrete':
      return { type: 'multi-discrete', shape: ints(o.shape, 'shape'), nvec: ints(o.nvec, 'nvec'), start: ints(o.start, 'start') };
    case 'multi-binary':
      return { type: 'multi-binary', shape: ints(o.shape, 'shape') };
    case 'dict':
      if (!Array.isArray(o.spaces)) break;
      return { type: 'dict', spaces: (o.spaces as { key: unknown; space: unknown }[]).map((e) => ({ key: String(e.key), space: decodeSpace(e.space) })) };
    case 'tuple':
      if (!Array.isArray(o.spaces)) break;
      return { type: 'tuple', spaces: (o.spaces as unknown[]).map(decodeSpace) };
    default:
  }
  throw new ProtocolError(`unsupported space ${JSON.stringify(s)}`);
}

/** Encodes a space as in WELCOME (inverse of {@link decodeSpace}). */
export function encodeSpace(s: Space): Record<string, unknown> {
  switch (s.type) {
    case 'box':
      return { type: 'box', shape: [...s.shape], dtype: s.dtype, low: s.low.map(encodeFloat), high: s.high.map(encodeFloat) };
    case 'discrete':
      return { type: 'discrete', n: s.n, start: s.start };
    case 'multi-discrete':
      return { type: 'multi-discrete', shape: [...s.shape], nvec: [...s.nvec], start: [...s.start] };
    case 'multi-binary':
      return { type: 'multi-binary', shape: [...s.shape] };
    case 'dict':
      return { type: 'dict', spaces: s.spaces.map((e) => ({ key: e.key, space: encodeSpace(e.space) })) };
    case 'tuple':
      return { type: 'tuple', spaces: s.spaces.map(encodeSpace) };
  }
}

/** Reads a WELCOME header. @throws ProtocolError when fields are missing or malformed. */
export function parseWelcome(h: WireHeader): Welcome {
  const spec = h.spec as { id?: unknown; max_episode_steps?: unknown } | undefined;
  if (!spec || typeof h.num_envs !== 'number' || typeof h.versions !== 'object' || h.versions === null) {
    throw new ProtocolError('WELCOME lacks spec, num_envs or versions');
  }
  if (h.autoreset_mode !== 'same-step') throw new ProtocolError(`unsupported autoreset mode ${JSON.stringify(h.autoreset_mode)}`);
  const protocol = typeof h.protocol === 'string' ? h.protocol : String(h.v);
  if (majorOf(protocol) !== MAJOR) {
    throw new ProtocolError(`protocol version mismatch: bridge speaks ${protocol}, this client speaks ${PROTOCOL_VERSION}`);
  }
  const known = new Set<string>(CAPABILITIES);
  const capabilities = Array.isArray(h.capabilities) ? (h.capabilities as unknown[]).filter((c): c is string => typeof c === 'string' && known.has(c)) : [];
  return {
    protocol,
    capabilities,
    vectorization: h.vectorization === 'async' ? 'async' : 'sync',
    versions: { ...(h.versions as Record<string, string>) },
    observationSpace: decodeSpace(h.observation_space),
    actionSpace: decodeSpace(h.action_space),
    spec: { id: String(spec.id), maxEpisodeSteps: typeof spec.max_episode_steps === 'number' ? spec.max_episode_steps : null },
    numEnvs: h.num_envs,
    autoresetMode: 'same-step',
    ...(Number.isInteger(h.session) ? { session: h.session as number } : {}),
  };
}

/** Reads an ERROR header. */
export function parseError(h: WireHeader): RemoteError {
  return {
    exceptionType: typeof h.exception_type === 'string' ? h.exception_type : 'UnknownError',
    message: typeof h.message === 'string' ? h.message : '',
    traceback: typeof h.traceback === 'string' ? h.traceback : '',
    ...(typeof h.env_index === 'number' ? { envIndex: h.env_index } : {}),
  };
}

function expectArray<T extends WireArray>(m: DecodedMessage, name: string, ctor: { new (n: number): T }, length: number): T {
  const a = m.arrays.get(name);
  if (!(a instanceof ctor) || a.length !== length) {
    throw new ProtocolError(`${m.header.type}: array '${name}' missing or of wrong type/length (want ${length})`);
  }
  return a;
}

/** Reads a RESET_RESULT. @returns observations `[numEnvs, obsDim]` float32. */
export function parseResetResult(m: DecodedMessage, numEnvs: number, obsDim: number): Float32Array {
  return expectArray(m, 'observations', Float32Array, numEnvs * obsDim);
}

/**
 * Reads a STEP_RESULT into the core {@link StepResult}: `observations` `[n, obsDim]` float32
 * (autoreset already applied), `rewards` float64, `terminated`/`truncated` uint8, and per env the
 * final observation (a subarray of `final_observations`) and episode statistics, or `null`;
 * plus `actionsClipped`, the number of action entries the bridge clipped (0 when absent).
 * @throws ProtocolError when arrays are missing or have the wrong length.
 */
export function parseStepResult(m: DecodedMessage, numEnvs: number, obsDim: number): StepResult & { readonly actionsClipped: number } {
  const observations = expectArray(m, 'observations', Float32Array, numEnvs * obsDim);
  const rewards = expectArray(m, 'rewards', Float64Array, numEnvs);
  const terminated = expectArray(m, 'terminated', Uint8Array, numEnvs);
  const truncated = expectArray(m, 'truncated', Uint8Array, numEnvs);
  const finalObservations: (Float32Array | null)[] = new Array<Float32Array | null>(numEnvs).fill(null);
  const episodes: (EpisodeStatistics | null)[] = new Array<EpisodeStatistics | null>(numEnvs).fill(null);
  const idx = m.header.final_indices as number[] | undefined;
  if (idx && idx.length > 0) {
    const finals = expectArray(m, 'final_observations', Float32Array, idx.length * obsDim);
    for (let k = 0; k < idx.length; k++) finalObservations[idx[k]] = finals.subarray(k * obsDim, (k + 1) * obsDim);
    const eps = (m.header.episodes ?? []) as { index: number; return: unknown; length: number }[];
    for (const e of eps) episodes[e.index] = { return: decodeFloat(e.return), length: e.length };
  }
  const actionsClipped = typeof m.header.actions_clipped === 'number' ? m.header.actions_clipped : 0;
  return { observations, rewards, terminated, truncated, finalObservations, episodes, actionsClipped };
}

/**
 * Reads a GET_STATE_RESULT: the payload (a copy of the `state` uint8 frame: UTF-8 JSON of format
 * `sparse-rl-env-state`, opaque to this client) or the bridge's reason why the envs cannot be
 * captured.
 * @throws ProtocolError when `restorable` is missing or the payload frame is absent.
 */
export function parseGetStateResult(m: DecodedMessage): EnvironmentSnapshot {
  const h = m.header;
  if (h.restorable === false) return { restorable: false, reason: typeof h.reason === 'string' && h.reason ? h.reason : 'the bridge gave no reason' };
  if (h.restorable !== true) throw new ProtocolError('GET_STATE_RESULT lacks "restorable"');
  const a = m.arrays.get('state');
  if (!(a instanceof Uint8Array)) throw new ProtocolError("GET_STATE_RESULT: array 'state' (uint8) missing");
  return { restorable: true, payload: new Uint8Array(a) };
}

/**
 * Reads a SET_STATE_RESULT: the restored observations `[numEnvs, obsDim]` float32, and per env the
 * running episode's return (float64, reward units) and length (steps).
 * @throws ProtocolError when arrays are missing or have the wrong length.
 */
export function parseSetStateResult(
  m: DecodedMessage,
  numEnvs: number,
  obsDim: number,
): { readonly observations: Float32Array; readonly episodeReturns: Float64Array; readonly episodeLengths: BigInt64Array } {
  return {
    observations: expectArray(m, 'observations', Float32Array, numEnvs * obsDim),
    episodeReturns: expectArray(m, 'episode_returns', Float64Array, numEnvs),
    episodeLengths: expectArray(m, 'episode_lengths', BigInt64Array, numEnvs),
  };
}
