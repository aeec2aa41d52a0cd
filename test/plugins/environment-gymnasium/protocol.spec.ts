/** Frame encoding/decoding of the bridge protocol and the schema of its headers. */
import { describe, expect, it } from 'vitest';
import {
  CAPABILITIES,
  PROTOCOL_VERSION,
  ProtocolError,
  decodeFloat,
  decodeMessage,
  decodeSpace,
  encodeFloat,
  encodeMessage,
  encodeSpace,
  helloFields,
  parseGetStateResult,
  parseSetStateResult,
  parseStepResult,
} from '../../../plugins/environment-gymnasium/protocol.js';
import { flatSize, type Space } from '../../../src/core/environment.js';
import { protocolValidator } from './helpers.js';

describe('bridge protocol frames', () => {
  it('round-trips headers and arrays of every dtype, zero-copy on send', () => {
    const f32 = new Float32Array([1.5, -2, Infinity, Number.NaN, 3e-38, 0]);
    const f64 = new Float64Array([Math.PI, -0]);
    const u8 = new Uint8Array([0, 1, 255]);
    const i32 = new Int32Array([-7, 2 ** 31 - 1]);
    const i64 = new BigInt64Array([-(2n ** 62n), 5n]);
    const { header, frames } = encodeMessage('STEP', 7, { extra: 'x' }, [
      { name: 'a', data: f32, shape: [2, 3] },
      { name: 'b', data: f64, shape: [2] },
      { name: 'c', data: u8, shape: [3] },
      { name: 'd', data: i32, shape: [2, 1] },
      { name: 'e', data: i64, shape: [2] },
    ]);
    expect(header).toMatchObject({ v: PROTOCOL_VERSION, type: 'STEP', seq: 7, extra: 'x' });
    expect(frames).toHaveLength(6);
    expect(frames[1].buffer).toBe(f32.buffer); // no copy
    const m = decodeMessage(frames);
    expect(m.header.arrays).toEqual([
      { name: 'a', dtype: 'float32', shape: [2, 3] },
      { name: 'b', dtype: 'float64', shape: [2] },
      { name: 'c', dtype: 'uint8', shape: [3] },
      { name: 'd', dtype: 'int32', shape: [2, 1] },
      { name: 'e', dtype: 'int64', shape: [2] },
    ]);
    expect(m.arrays.get('a')).toEqual(f32);
    expect(Object.is((m.arrays.get('b') as Float64Array)[1], -0)).toBe(true);
    expect(m.arrays.get('c')).toEqual(u8);
    expect(m.arrays.get('d')).toEqual(i32);
    expect(m.arrays.get('e')).toEqual(i64);
  });

  it('copies unaligned frames instead of failing', () => {
    const raw = Buffer.alloc(1 + 8);
    raw.writeFloatLE(1.25, 1);
    raw.writeFloatLE(-3, 5);
    const frame = raw.subarray(1);
    const head = Buffer.from(JSON.stringify({ v: '1.0', type: 'X', seq: 1, arrays: [{ name: 'a', dtype: 'float32', shape: [2] }] }));
    const m = decodeMessage([head, frame]);
    expect(Array.from(m.arrays.get('a') as Float32Array)).toEqual([1.25, -3]);
  });

  it('rejects malformed messages and other major versions', () => {
    const h = (o: object) => Buffer.from(JSON.stringify(o));
    expect(() => decodeMessage([Buffer.from('not json')])).toThrow(ProtocolError);
    expect(() => decodeMessage([h({ v: '2.0', type: 'PONG', seq: 1 })])).toThrow(`bridge speaks 2.0, this client speaks ${PROTOCOL_VERSION}`);
    expect(() => decodeMessage([h({ v: '1.7', type: 'PONG', seq: 1 })])).not.toThrow();
    expect(() => decodeMessage([h({ v: '1.0', type: 'X', seq: 1, arrays: [{ name: 'a', dtype: 'float32', shape: [2] }] }), Buffer.alloc(4)])).toThrow(/needs 8 bytes/);
    expect(() => decodeMessage([h({ v: '1.0', type: 'X', seq: 1, arrays: [{ name: 'a', dtype: 'complex64', shape: [1] }] }), Buffer.alloc(8)])).toThrow(/dtype/);
    expect(() => decodeMessage([h({ v: '1.0', type: 'X', seq: 1 }), Buffer.alloc(4)])).toThrow(/array frames/);
    expect(() => encodeMessage('STEP', 1, {}, [{ name: 'a', data: new Float32Array(5), shape: [2, 3] }])).toThrow(/needs 6/);
  });

  it('encodes non-finite floats and spaces without sentinel numbers', () => {
    expect([Infinity, -Infinity, 1.5].map(encodeFloat)).toEqual(['inf', '-inf', 1.5]);
    expect(encodeFloat(Number.NaN)).toBe('nan');
    expect(['inf', '-inf', 2].map(decodeFloat)).toEqual([Infinity, -Infinity, 2]);
    expect(() => decodeFloat('Infinity')).toThrow(ProtocolError);
    const box = { type: 'box' as const, shape: [2], dtype: 'float64', low: [-Infinity, 0], high: [Infinity, 1] };
    const json = JSON.parse(JSON.stringify(encodeSpace(box)));
    expect(json.low).toEqual(['-inf', 0]);
    expect(decodeSpace(json)).toEqual(box);
    expect(decodeSpace({ type: 'discrete', n: 3, start: 0 })).toEqual({ type: 'discrete', n: 3, start: 0 });
  });

  it('maps STEP_RESULT final observations and episodes to per-env entries', () => {
    const obs = new Float32Array([1, 2, 3, 4, 5, 6]);
    const { frames } = encodeMessage('STEP_RESULT', 3, { final_indices: [2], episodes: [{ index: 2, return: '-inf', length: 4 }] }, [
      { name: 'observations', data: obs, shape: [3, 2] },
      { name: 'rewards', data: new Float64Array(3), shape: [3] },
      { name: 'terminated', data: new Uint8Array([0, 0, 1]), shape: [3] },
      { name: 'truncated', data: new Uint8Array(3), shape: [3] },
      { name: 'final_observations', data: new Float32Array([9, 8]), shape: [1, 2] },
    ]);
    const r = parseStepResult(decodeMessage(frames), 3, 2);
    expect(r.finalObservations[0]).toBeNull();
    expect(Array.from(r.finalObservations[2]!)).toEqual([9, 8]);
    expect(r.episodes).toEqual([null, null, { return: -Infinity, length: 4 }]);
  });
});

describe('bridge-protocol.schema.json', () => {
  const validate = protocolValidator();
  it('compiles under ajv strict mode and accepts the headers this client builds', () => {
    const hello = encodeMessage('HELLO', 1, helloFields({ token: 't', envId: 'HalfCheetah-v5', kwargs: { a: 1 }, numEnvs: 2, seed: 3 })).header;
    expect(validate(hello), JSON.stringify(validate.errors)).toBe(true);
    const step = encodeMessage('STEP', 2, undefined, [{ name: 'actions', data: new Float32Array(12), shape: [2, 6] }]).header;
    expect(validate(step), JSON.stringify(validate.errors)).toBe(true);
    for (const type of ['PING', 'CLOSE', 'RESET'] as const) expect(validate(encodeMessage(type, 3).header)).toBe(true);
  });
  it('rejects headers that break the contract', () => {
    expect(validate({ v: '1.0', type: 'STEP', seq: 1, arrays: [{ name: 'actions', dtype: 'float64', shape: [1, 6] }] })).toBe(false);
    expect(validate({ v: '1.0', type: 'HELLO', seq: 1, env_id: 'X', num_envs: 1 })).toBe(false); // no token
    expect(validate({ v: '1.0', type: 'NOPE', seq: 1 })).toBe(false);
    expect(validate({ v: '1.0', type: 'PONG', seq: 1, extra: true })).toBe(false);
    expect(
      validate({
        v: '1.0', type: 'WELCOME', seq: 1, versions: { bridge: '0', protocol: '1.0', python: '3', gymnasium: '1', numpy: '2' },
        observation_space: { type: 'box', shape: [1], dtype: 'float64', low: [-1e309], high: ['Infinity'] },
        action_space: { type: 'discrete', n: 2, start: 0 }, spec: { id: 'X', max_episode_steps: null }, num_envs: 1, autoreset_mode: 'same-step',
      }),
    ).toBe(false); // "Infinity" is not an allowed bound spelling
  });
  it('accepts the protocol 1.1 fields and extended spaces, and rejects unknown capabilities in WELCOME', () => {
    const welcome = {
      v: PROTOCOL_VERSION, type: 'WELCOME', seq: 1, protocol: PROTOCOL_VERSION, capabilities: ['spaces.extended'], vectorization: 'async',
      versions: { bridge: '0', protocol: PROTOCOL_VERSION, python: '3', gymnasium: '1', numpy: '2' },
      observation_space: encodeSpace(DICT), action_space: { type: 'multi-binary', shape: [3] },
      spec: { id: 'X', max_episode_steps: null }, num_envs: 1, autoreset_mode: 'same-step',
    };
    expect(validate(welcome), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ ...welcome, capabilities: ['teleport'] })).toBe(false);
    expect(validate({ ...welcome, action_space: encodeSpace(DICT) })).toBe(false); // Dict actions are not carried
    expect(validate({ ...welcome, protocol: undefined })).toBe(false);
    const hello = encodeMessage('HELLO', 1, helloFields({ token: 't', envId: 'X', kwargs: {}, numEnvs: 1, vectorization: 'async' })).header;
    expect(hello).toMatchObject({ protocol: PROTOCOL_VERSION, capabilities: [...CAPABILITIES], vectorization: 'async' });
    expect(validate(hello), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ ...hello, vectorization: 'threads' })).toBe(false);
    expect(validate({ v: PROTOCOL_VERSION, type: 'STEP_RESULT', seq: 1, actions_clipped: 0, arrays: [] })).toBe(false);
  });
});

describe('protocol 1.2 messages', () => {
  const validate = protocolValidator();
  const roundTrip = (type: Parameters<typeof encodeMessage>[0], fields?: Record<string, unknown>, arrays?: Parameters<typeof encodeMessage>[3]) => {
    const { frames } = encodeMessage(type, 7, fields, arrays);
    return decodeMessage(frames);
  };
  it('GET_STATE_RESULT and SET_STATE_RESULT decode into a snapshot and the restored observations', () => {
    const payload = new TextEncoder().encode('{"format":"sparse-rl-env-state"}');
    const ok = roundTrip('GET_STATE_RESULT', { restorable: true, format: 'sparse-rl-env-state', format_version: 1 }, [{ name: 'state', data: payload, shape: [payload.length] }]);
    expect(validate(ok.header), JSON.stringify(validate.errors)).toBe(true);
    const snap = parseGetStateResult(ok);
    expect(snap).toEqual({ restorable: true, payload });
    const no = roundTrip('GET_STATE_RESULT', { restorable: false, reason: 'CartPoleEnv is not ...' });
    expect(validate(no.header)).toBe(true);
    expect(parseGetStateResult(no)).toEqual({ restorable: false, reason: 'CartPoleEnv is not ...' });
    expect(() => parseGetStateResult(roundTrip('GET_STATE_RESULT', {}))).toThrow(ProtocolError);
    expect(validate(encodeMessage('GET_STATE', 1).header)).toBe(true);
    expect(validate(encodeMessage('SET_STATE', 1, undefined, [{ name: 'state', data: payload, shape: [payload.length] }]).header)).toBe(true);
    expect(validate(encodeMessage('SET_STATE', 1).header)).toBe(false); // the payload frame is required
    const set = roundTrip('SET_STATE_RESULT', undefined, [
      { name: 'observations', data: new Float32Array([1, 2, 3, 4]), shape: [2, 2] },
      { name: 'episode_returns', data: new Float64Array([0.5, -1]), shape: [2] },
      { name: 'episode_lengths', data: new BigInt64Array([3n, 0n]), shape: [2] },
    ]);
    expect(validate(set.header), JSON.stringify(validate.errors)).toBe(true);
    const r = parseSetStateResult(set, 2, 2);
    expect(Array.from(r.observations)).toEqual([1, 2, 3, 4]);
    expect(Array.from(r.episodeReturns)).toEqual([0.5, -1]);
    expect(Array.from(r.episodeLengths)).toEqual([3n, 0n]);
    expect(() => parseSetStateResult(set, 3, 2)).toThrow(ProtocolError);
  });
  it('HELLO carries the video request in snake_case', () => {
    const hello = encodeMessage('HELLO', 1, helloFields({ token: 't', envId: 'X', kwargs: {}, numEnvs: 1, video: { dir: '/tmp/v', namePrefix: 'ev' } })).header;
    expect(hello.video).toEqual({ dir: '/tmp/v', name_prefix: 'ev' });
    expect(validate(hello), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ ...hello, video: { dir: '/tmp/v', name_prefix: '../x' } })).toBe(false);
    expect(CAPABILITIES).toEqual(expect.arrayContaining(['state.snapshot', 'render.video']));
  });
});

const DICT: Space = {
  type: 'dict',
  spaces: [
    { key: 'a', space: { type: 'box', shape: [2, 2], dtype: 'float16', low: [-Infinity, 0, 0, 0], high: [1, 1, 1, Infinity] } },
    { key: 'b', space: { type: 'discrete', n: 3, start: 0 } },
    { key: 'c', space: { type: 'tuple', spaces: [{ type: 'multi-discrete', shape: [2], nvec: [2, 5], start: [0, 0] }, { type: 'multi-binary', shape: [3] }] } },
  ],
};

describe('spaces', () => {
  it('round-trip through JSON and have the documented flat sizes', () => {
    expect(decodeSpace(JSON.parse(JSON.stringify(encodeSpace(DICT))))).toEqual(DICT);
    expect(flatSize(DICT)).toBe(4 + 3 + (2 + 5) + 3); // nested Discrete/MultiDiscrete one-hot, as gymnasium.spaces.flatdim
    expect(flatSize({ type: 'discrete', n: 9, start: 0 })).toBe(1);
    expect(flatSize({ type: 'multi-discrete', shape: [2, 3], nvec: [2, 2, 2, 2, 2, 2], start: [0, 0, 0, 0, 0, 0] })).toBe(6);
    expect(flatSize({ type: 'multi-binary', shape: [4] })).toBe(4);
    expect(() => decodeSpace({ type: 'graph' })).toThrow(ProtocolError);
  });
});
