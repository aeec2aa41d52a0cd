import CRC32C from 'crc-32/crc32c.js';
import protobuf from 'protobufjs/light.js';

/**
 * The TensorBoard event-file format, written without TensorFlow:
 *
 * - **Framing** (TFRecord, tensorflow/core/lib/io/record_writer.cc): each record is
 *   `uint64 length` (little-endian), `uint32 masked_crc32c(length bytes)`, `data`,
 *   `uint32 masked_crc32c(data)`.
 * - **Payload**: one serialised `tensorflow.Event` protobuf per record
 *   (tensorflow/core/util/event.proto, tensorflow/core/framework/summary.proto; the same copies
 *   ship in the `tensorboard` Python package as `tensorboard/compat/proto/`). Only the fields we
 *   write are declared below, with their upstream field numbers.
 *
 * Encoding uses protobufjs (reflection, no code generation); CRC-32C (Castagnoli) is the
 * `crc-32` package's `crc32c` module.
 */

/** The subset of `tensorflow.Event`, `tensorflow.Summary` and `tensorflow.SessionLog` this writer emits. */
const root = protobuf.Root.fromJSON({
  nested: {
    tensorflow: {
      nested: {
        Event: {
          oneofs: { what: { oneof: ['file_version', 'summary', 'session_log'] } },
          fields: {
            wall_time: { type: 'double', id: 1 },
            step: { type: 'int64', id: 2 },
            file_version: { type: 'string', id: 3 },
            summary: { type: 'Summary', id: 5 },
            session_log: { type: 'SessionLog', id: 7 },
          },
        },
        Summary: {
          fields: { value: { rule: 'repeated', type: 'Value', id: 1 } },
          nested: {
            Value: {
              oneofs: { value: { oneof: ['simple_value'] } },
              fields: { tag: { type: 'string', id: 1 }, simple_value: { type: 'float', id: 2 } },
            },
          },
        },
        SessionLog: {
          fields: { status: { type: 'SessionStatus', id: 1 }, checkpoint_path: { type: 'string', id: 2 }, msg: { type: 'string', id: 3 } },
          nested: { SessionStatus: { values: { STATUS_UNSPECIFIED: 0, START: 1, STOP: 2, CHECKPOINT: 3 } } },
        },
      },
    },
  },
});
const EventType = root.lookupType('tensorflow.Event');

/** `SessionLog.SessionStatus` values. */
export const SessionStatus = { START: 1, STOP: 2, CHECKPOINT: 3 } as const;

/** What one event carries besides its time and step (exactly one of these, the proto's `oneof what`). */
export type EventBody =
  | { readonly fileVersion: string }
  | { readonly scalars: Readonly<Record<string, number>> }
  | { readonly sessionLog: (typeof SessionStatus)[keyof typeof SessionStatus] };

/** CRC-32C (Castagnoli) of `data`, as an unsigned 32-bit integer. */
export function crc32c(data: Uint8Array): number {
  return CRC32C.buf(data) >>> 0;
}

/** TFRecord's masked CRC: `((crc >>> 15) | (crc << 17)) + 0xa282ead8` (mod 2^32). */
export function maskedCrc32c(data: Uint8Array): number {
  const crc = crc32c(data);
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/**
 * One serialised `tensorflow.Event`.
 * @param wallTime seconds since the Unix epoch (a double, as TensorFlow's `time.time()`)
 * @param step the global step (int64)
 */
export function encodeEvent(wallTime: number, step: number, body: EventBody): Uint8Array {
  const event: Record<string, unknown> = { wall_time: wallTime, step };
  if ('fileVersion' in body) event.file_version = body.fileVersion;
  else if ('sessionLog' in body) event.session_log = { status: body.sessionLog };
  else event.summary = { value: Object.entries(body.scalars).map(([tag, v]) => ({ tag, simple_value: v })) };
  return EventType.encode(EventType.fromObject(event)).finish();
}

/** Frames `data` as one TFRecord: length, masked CRC of the length, data, masked CRC of the data. */
export function tfRecord(data: Uint8Array): Buffer {
  const out = Buffer.alloc(8 + 4 + data.length + 4);
  out.writeBigUInt64LE(BigInt(data.length), 0);
  out.writeUInt32LE(maskedCrc32c(out.subarray(0, 8)), 8);
  out.set(data, 12);
  out.writeUInt32LE(maskedCrc32c(data), 12 + data.length);
  return out;
}
