/**
 * The few pieces of the ONNX file format (protobuf, onnx.proto) that our ranking models need:
 * an encoder for a `ModelProto` with float tensors and plain operator nodes, and a decoder that
 * reads back only what the server checks before it hands the bytes to onnxruntime (metadata,
 * producer, graph input and output names). Written by hand so that training needs no Python and
 * no protobuf dependency; field numbers are those of onnx.proto.
 */

/** IR version 8 (ONNX 1.10+) with default-domain opset 13: accepted by every current onnxruntime. */
export const IR_VERSION = 8;
export const OPSET_VERSION = 13;

/** TensorProto.DataType.FLOAT. */
const FLOAT = 1;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

/** Field numbers from onnx.proto, one object per message. */
const MODEL = {
  irVersion: 1,
  producerName: 2,
  producerVersion: 3,
  docString: 6,
  graph: 7,
  opsetImport: 8,
  metadata: 14,
};
const OPSET_ID = { domain: 1, version: 2 };
const ENTRY = { key: 1, value: 2 };
const GRAPH = { node: 1, name: 2, initializer: 5, input: 11, output: 12 };
const NODE = { input: 1, output: 2, name: 3, opType: 4 };
const TENSOR = { dims: 1, dataType: 2, floatData: 4, name: 8 };
const VALUE_INFO = { name: 1, type: 2 };
const TYPE = { tensorType: 1 };
const TENSOR_TYPE = { elemType: 1, shape: 2 };
const SHAPE = { dim: 1 };
const DIMENSION = { dimValue: 1, dimParam: 2 };

/** A float32 constant of the graph (weights, means, …), stored row-major. */
export interface FloatInitializer {
  name: string;
  dims: readonly number[];
  data: Float32Array;
}

/** One operator of the default domain, without attributes (our graphs need none). */
export interface GraphNode {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name?: string;
}

/** A float32 graph input or output; a string dimension is symbolic (e.g. the batch size `N`). */
export interface FloatValueInfo {
  name: string;
  shape: readonly (number | string)[];
}

export interface ModelSpec {
  producerName: string;
  producerVersion: string;
  docString?: string;
  graphName: string;
  nodes: readonly GraphNode[];
  initializers: readonly FloatInitializer[];
  inputs: readonly FloatValueInfo[];
  outputs: readonly FloatValueInfo[];
  /** Written as `metadata_props`, in this order. */
  metadata: Readonly<Record<string, string>>;
}

/** What `decodeModelInfo` reads back from a model file without loading it. */
export interface ModelInfo {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  opsets: { domain: string; version: number }[];
  inputNames: string[];
  outputNames: string[];
  metadata: Record<string, string>;
}

/** The bytes are not a readable ONNX protobuf (truncated, not ONNX at all, …). */
export class OnnxFormatError extends Error {
  override name = 'OnnxFormatError';
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** Appends protobuf fields to a growing buffer; nested messages are encoded first, then embedded. */
class ProtoWriter {
  private buffer = new Uint8Array(256);
  private view = new DataView(this.buffer.buffer);
  private length = 0;

  private reserve(extra: number) {
    if (this.length + extra <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.length + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buffer.subarray(0, this.length));
    this.buffer = next;
    this.view = new DataView(next.buffer);
  }

  /** Non-negative integers only: every integer we write (versions, dims, lengths) is one. */
  private varint(value: number) {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`cannot encode ${value} as a varint`);
    this.reserve(10);
    while (value >= 0x80) {
      this.buffer[this.length++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this.buffer[this.length++] = value;
  }

  private tag(field: number, wireType: number) {
    this.varint(field * 8 + wireType);
  }

  uint(field: number, value: number): this {
    this.tag(field, WIRE_VARINT);
    this.varint(value);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WIRE_LENGTH_DELIMITED);
    this.varint(value.length);
    this.reserve(value.length);
    this.buffer.set(value, this.length);
    this.length += value.length;
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, utf8.encode(value));
  }

  message(field: number, value: ProtoWriter): this {
    return this.bytes(field, value.finish());
  }

  /** `repeated float … [packed = true]`: one length-delimited run of little-endian float32s. */
  packedFloats(field: number, values: Float32Array): this {
    this.tag(field, WIRE_LENGTH_DELIMITED);
    this.varint(values.length * 4);
    this.reserve(values.length * 4);
    for (const v of values) {
      this.view.setFloat32(this.length, v, true);
      this.length += 4;
    }
    return this;
  }

  finish(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }
}

function encodeValueInfo(info: FloatValueInfo): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of info.shape) {
    const dim = new ProtoWriter();
    if (typeof d === 'string') dim.string(DIMENSION.dimParam, d);
    else dim.uint(DIMENSION.dimValue, d);
    shape.message(SHAPE.dim, dim);
  }
  const tensorType = new ProtoWriter().uint(TENSOR_TYPE.elemType, FLOAT).message(TENSOR_TYPE.shape, shape);
  const type = new ProtoWriter().message(TYPE.tensorType, tensorType);
  return new ProtoWriter().string(VALUE_INFO.name, info.name).message(VALUE_INFO.type, type);
}

function encodeInitializer(init: FloatInitializer): ProtoWriter {
  const expected = init.dims.reduce((a, b) => a * b, 1);
  if (expected !== init.data.length)
    throw new RangeError(`initializer ${init.name}: dims [${init.dims.join(', ')}] need ${expected} values`);
  const tensor = new ProtoWriter();
  // dims is a plain (unpacked) `repeated int64` in onnx.proto.
  for (const d of init.dims) tensor.uint(TENSOR.dims, d);
  return tensor.uint(TENSOR.dataType, FLOAT).packedFloats(TENSOR.floatData, init.data).string(TENSOR.name, init.name);
}

function encodeNode(node: GraphNode): ProtoWriter {
  const out = new ProtoWriter();
  for (const i of node.inputs) out.string(NODE.input, i);
  for (const o of node.outputs) out.string(NODE.output, o);
  if (node.name) out.string(NODE.name, node.name);
  return out.string(NODE.opType, node.opType);
}

/** Serialises a model whose graph uses only float32 tensors and default-domain operators. */
export function encodeModel(spec: ModelSpec): Uint8Array {
  const graph = new ProtoWriter();
  for (const node of spec.nodes) graph.message(GRAPH.node, encodeNode(node));
  graph.string(GRAPH.name, spec.graphName);
  for (const init of spec.initializers) graph.message(GRAPH.initializer, encodeInitializer(init));
  for (const input of spec.inputs) graph.message(GRAPH.input, encodeValueInfo(input));
  for (const output of spec.outputs) graph.message(GRAPH.output, encodeValueInfo(output));

  const model = new ProtoWriter()
    .uint(MODEL.irVersion, IR_VERSION)
    .string(MODEL.producerName, spec.producerName)
    .string(MODEL.producerVersion, spec.producerVersion);
  if (spec.docString) model.string(MODEL.docString, spec.docString);
  model.message(MODEL.graph, graph);
  model.message(MODEL.opsetImport, new ProtoWriter().string(OPSET_ID.domain, '').uint(OPSET_ID.version, OPSET_VERSION));
  for (const [key, value] of Object.entries(spec.metadata)) {
    model.message(MODEL.metadata, new ProtoWriter().string(ENTRY.key, key).string(ENTRY.value, value));
  }
  return model.finish();
}

interface Field {
  number: number;
  wireType: number;
  /** The varint's value (wire type 0), else 0. */
  value: number;
  /** The payload of a length-delimited field (wire type 2), else empty. */
  bytes: Uint8Array;
}

/** Walks the fields of one message; unknown fields are skipped, malformed input throws. */
function* fields(bytes: Uint8Array): Generator<Field> {
  let pos = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (pos >= bytes.length) throw new OnnxFormatError('truncated varint');
      const b = bytes[pos++] ?? 0;
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
    throw new OnnxFormatError('varint longer than 10 bytes');
  };
  const skip = (n: number) => {
    if (n > bytes.length - pos) throw new OnnxFormatError('field runs past the end of its message');
    pos += n;
  };
  while (pos < bytes.length) {
    const key = varint();
    const number = Math.floor(key / 8);
    const wireType = key % 8;
    if (number === 0) throw new OnnxFormatError('field number 0');
    switch (wireType) {
      case WIRE_VARINT:
        yield { number, wireType, value: varint(), bytes: new Uint8Array(0) };
        break;
      case WIRE_FIXED64:
        skip(8);
        break;
      case WIRE_LENGTH_DELIMITED: {
        const length = varint();
        const start = pos;
        skip(length);
        yield { number, wireType, value: 0, bytes: bytes.subarray(start, start + length) };
        break;
      }
      case WIRE_FIXED32:
        skip(4);
        break;
      default:
        throw new OnnxFormatError(`unsupported wire type ${wireType}`);
    }
  }
}

function text(field: Field): string {
  if (field.wireType !== WIRE_LENGTH_DELIMITED) throw new OnnxFormatError(`field ${field.number} is not a string`);
  try {
    return utf8Decoder.decode(field.bytes);
  } catch {
    throw new OnnxFormatError(`field ${field.number} is not valid UTF-8`);
  }
}

function valueInfoName(bytes: Uint8Array): string {
  for (const f of fields(bytes)) if (f.number === VALUE_INFO.name) return text(f);
  return '';
}

/**
 * The same model with one more `metadata_props` entry (a later entry of a key wins when read
 * back). Protobuf lets a repeated field appear anywhere, so appending its encoding to the file
 * is exact: weights and graph are untouched.
 */
export function withMetadataEntry(bytes: Uint8Array, key: string, value: string): Uint8Array {
  decodeModelInfo(bytes);
  const entry = new ProtoWriter()
    .message(MODEL.metadata, new ProtoWriter().string(ENTRY.key, key).string(ENTRY.value, value))
    .finish();
  const out = new Uint8Array(bytes.length + entry.length);
  out.set(bytes);
  out.set(entry, bytes.length);
  return out;
}

/**
 * Reads what a server must check before trusting a model file, without onnxruntime: its
 * metadata (feature list, version), producer, opsets and graph input/output names. Initializers
 * are skipped, not decoded.
 */
export function decodeModelInfo(bytes: Uint8Array): ModelInfo {
  const info: ModelInfo = {
    irVersion: 0,
    producerName: '',
    producerVersion: '',
    opsets: [],
    inputNames: [],
    outputNames: [],
    metadata: {},
  };
  let hasGraph = false;
  // Collected as entries so that a key such as "__proto__" stays plain data.
  const metadata: [string, string][] = [];
  for (const f of fields(bytes)) {
    switch (f.number) {
      case MODEL.irVersion:
        if (f.wireType === WIRE_VARINT) info.irVersion = f.value;
        break;
      case MODEL.producerName:
        info.producerName = text(f);
        break;
      case MODEL.producerVersion:
        info.producerVersion = text(f);
        break;
      case MODEL.opsetImport: {
        const opset = { domain: '', version: 0 };
        for (const g of fields(f.bytes)) {
          if (g.number === OPSET_ID.domain) opset.domain = text(g);
          else if (g.number === OPSET_ID.version && g.wireType === WIRE_VARINT) opset.version = g.value;
        }
        info.opsets.push(opset);
        break;
      }
      case MODEL.graph:
        hasGraph = true;
        for (const g of fields(f.bytes)) {
          if (g.number === GRAPH.input) info.inputNames.push(valueInfoName(g.bytes));
          else if (g.number === GRAPH.output) info.outputNames.push(valueInfoName(g.bytes));
        }
        break;
      case MODEL.metadata: {
        let key = '';
        let value = '';
        for (const g of fields(f.bytes)) {
          if (g.number === ENTRY.key) key = text(g);
          else if (g.number === ENTRY.value) value = text(g);
        }
        metadata.push([key, value]);
        break;
      }
    }
  }
  if (info.irVersion === 0 || !hasGraph) throw new OnnxFormatError('not an ONNX model (no ir_version or no graph)');
  return { ...info, metadata: Object.fromEntries(metadata) };
}
