// Strict, lossless JSON parser for untrusted bytes (RFC 8259 grammar, UTF-8, duplicate members refused).
// Used for bundles (BUNDLE-1, BUNDLE-4, BUNDLE-7) and by other rooms for any untrusted JSON (JWT headers).
import { BundleError } from '../errors.js';

/** A JSON number kept as its literal text, so no precision is lost (BUNDLE-4). */
export class JsonNumber {
  /** The literal exactly as written, e.g. `-12`, `3.5e10`. Always matches the RFC 8259 grammar. */
  readonly raw: string;

  /** Use parseStrictJson; this constructor trusts its input to be a valid JSON number literal. */
  constructor(raw: string) {
    this.raw = raw;
    Object.freeze(this);
  }

  /** True when the literal has neither a fraction nor an exponent (`7`, `-0`; not `7.0` or `7e0`). */
  get isIntegerLiteral(): boolean {
    for (let i = 0; i < this.raw.length; i++) {
      const c = this.raw.charCodeAt(i);
      if (c === 0x2e || c === 0x65 || c === 0x45) return false;
    }
    return true;
  }

  /**
   * The value as a bigint when it is an integer literal within [min, max]; otherwise undefined.
   * Checks the digit count before converting, so huge literals cost nothing.
   */
  toBigIntInRange(min: bigint, max: bigint): bigint | undefined {
    if (!this.isIntegerLiteral) return undefined;
    const maxDigits = Math.max(absDigits(min), absDigits(max));
    const digits = this.raw.charCodeAt(0) === 0x2d ? this.raw.length - 1 : this.raw.length;
    if (digits > maxDigits) return undefined;
    const value = BigInt(this.raw);
    return value >= min && value <= max ? value : undefined;
  }

  /** The value as a bigint; throws TypeError when the literal is not an integer literal. */
  toBigInt(): bigint {
    if (!this.isIntegerLiteral) throw new TypeError('json number is not an integer literal');
    return BigInt(this.raw);
  }

  /** The value as a double (may lose precision or become ±Infinity for huge literals). */
  toNumber(): number {
    return Number(this.raw);
  }

  toString(): string {
    return this.raw;
  }

  toJSON(): string {
    return this.raw;
  }
}

/** A parsed JSON object: a null-prototype record, so `__proto__` and friends are ordinary keys. */
export interface JsonObject {
  readonly [member: string]: JsonValue;
}
export type JsonArray = readonly JsonValue[];
export type JsonValue = null | boolean | string | JsonNumber | JsonArray | JsonObject;

export interface ParseStrictJsonOptions {
  /** Maximum nesting of arrays and objects; default 64. */
  readonly maxDepth?: number;
}

export const DEFAULT_JSON_MAX_DEPTH = 64;

/** True for a parsed JSON object (not an array, not a number). */
export function isJsonObject(value: JsonValue | undefined): value is JsonObject {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof JsonNumber)
  );
}

/** True for a parsed JSON array. */
export function isJsonArray(value: JsonValue | undefined): value is JsonArray {
  return Array.isArray(value);
}

/** Own members of a parsed object in document order (integer-like names first, as JS orders them). */
export function jsonMemberNames(value: JsonObject): string[] {
  return Object.keys(value);
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Parses untrusted JSON. Bytes must be valid UTF-8 (a BOM is refused); a string must be
 * well-formed UTF-16 (no lone surrogates). The grammar is RFC 8259 exactly; duplicate member names
 * at any depth are refused (BUNDLE-7); numbers stay lossless as JsonNumber (BUNDLE-4).
 * Throws only BundleError (ERR_BUNDLE_NOT_UTF8, ERR_BUNDLE_JSON, ERR_BUNDLE_DUPLICATE_MEMBER).
 */
export function parseStrictJson(
  input: Uint8Array | string,
  options: ParseStrictJsonOptions = {},
): JsonValue {
  let text: string;
  if (typeof input === 'string') {
    text = input;
  } else if (input instanceof Uint8Array) {
    try {
      text = utf8Decoder.decode(input);
    } catch (cause) {
      throw new BundleError('ERR_BUNDLE_NOT_UTF8', 'document is not valid utf-8', { cause });
    }
  } else {
    throw new TypeError('json input must be a Uint8Array or a string');
  }
  const maxDepth = options.maxDepth ?? DEFAULT_JSON_MAX_DEPTH;
  if (!Number.isSafeInteger(maxDepth) || maxDepth < 1) {
    throw new TypeError('maxDepth must be a positive integer');
  }
  return new Parser(text, maxDepth).parseDocument();
}

function absDigits(value: bigint): number {
  return (value < 0n ? -value : value).toString().length;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

function describeName(name: string): string {
  return JSON.stringify(name.length > 64 ? name.slice(0, 64) + '…' : name);
}

class Parser {
  private pos = 0;
  private readonly text: string;
  private readonly length: number;
  private readonly maxDepth: number;

  constructor(text: string, maxDepth: number) {
    this.text = text;
    this.length = text.length;
    this.maxDepth = maxDepth;
  }

  parseDocument(): JsonValue {
    this.skipWhitespace();
    const value = this.parseValue(0);
    this.skipWhitespace();
    if (this.pos !== this.length) this.fail('unexpected data after the json value');
    return value;
  }

  private fail(message: string): never {
    throw new BundleError('ERR_BUNDLE_JSON', `invalid json: ${message}`, {
      context: { position: this.pos },
    });
  }

  private skipWhitespace(): void {
    const text = this.text;
    let pos = this.pos;
    while (pos < this.length) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos++;
      else break;
    }
    this.pos = pos;
  }

  private parseValue(depth: number): JsonValue {
    if (this.pos >= this.length) this.fail('unexpected end of input');
    const c = this.text.charCodeAt(this.pos);
    switch (c) {
      case 0x7b: // {
        return this.parseObject(depth + 1);
      case 0x5b: // [
        return this.parseArray(depth + 1);
      case 0x22: // "
        return this.parseString();
      case 0x74: // t
        this.expectLiteral('true');
        return true;
      case 0x66: // f
        this.expectLiteral('false');
        return false;
      case 0x6e: // n
        this.expectLiteral('null');
        return null;
      default:
        if (c === 0x2d || isDigit(c)) return this.parseNumber();
        return this.fail('unexpected character');
    }
  }

  private expectLiteral(word: string): void {
    if (this.text.startsWith(word, this.pos)) {
      this.pos += word.length;
    } else {
      this.fail('invalid literal');
    }
  }

  private checkDepth(depth: number): void {
    if (depth > this.maxDepth) this.fail(`nesting deeper than ${this.maxDepth}`);
  }

  private parseObject(depth: number): JsonObject {
    this.checkDepth(depth);
    this.pos++; // {
    const result = Object.create(null) as Record<string, JsonValue>;
    this.skipWhitespace();
    if (this.text.charCodeAt(this.pos) === 0x7d) {
      this.pos++;
      return result;
    }
    for (;;) {
      if (this.text.charCodeAt(this.pos) !== 0x22) this.fail('expected a member name');
      const namePos = this.pos;
      const name = this.parseString();
      if (name in result) {
        this.pos = namePos;
        throw new BundleError(
          'ERR_BUNDLE_DUPLICATE_MEMBER',
          `duplicate member name ${describeName(name)}`,
          { context: { position: namePos } },
        );
      }
      this.skipWhitespace();
      if (this.text.charCodeAt(this.pos) !== 0x3a) this.fail('expected ":"');
      this.pos++;
      this.skipWhitespace();
      result[name] = this.parseValue(depth);
      this.skipWhitespace();
      const c = this.text.charCodeAt(this.pos);
      if (c === 0x2c) {
        this.pos++;
        this.skipWhitespace();
      } else if (c === 0x7d) {
        this.pos++;
        return result;
      } else {
        this.fail('expected "," or "}"');
      }
    }
  }

  private parseArray(depth: number): JsonArray {
    this.checkDepth(depth);
    this.pos++; // [
    const result: JsonValue[] = [];
    this.skipWhitespace();
    if (this.text.charCodeAt(this.pos) === 0x5d) {
      this.pos++;
      return result;
    }
    for (;;) {
      result.push(this.parseValue(depth));
      this.skipWhitespace();
      const c = this.text.charCodeAt(this.pos);
      if (c === 0x2c) {
        this.pos++;
        this.skipWhitespace();
      } else if (c === 0x5d) {
        this.pos++;
        return result;
      } else {
        this.fail('expected "," or "]"');
      }
    }
  }

  /** Parses a string starting at the opening quote. Lone surrogates (raw or escaped) are refused. */
  private parseString(): string {
    const text = this.text;
    const start = ++this.pos;
    let pos = start;
    // Fast path: no escapes.
    for (;;) {
      if (pos >= this.length) {
        this.pos = pos;
        this.fail('unterminated string');
      }
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        this.pos = pos + 1;
        return text.slice(start, pos);
      }
      if (c === 0x5c) break;
      if (c < 0x20) {
        this.pos = pos;
        this.fail('control character in string');
      }
      if (c >= 0xd800 && c <= 0xdfff) pos = this.checkRawSurrogate(pos);
      else pos++;
    }
    // Slow path: build the string piece by piece.
    let out = text.slice(start, pos);
    let chunkStart = pos;
    for (;;) {
      if (pos >= this.length) {
        this.pos = pos;
        this.fail('unterminated string');
      }
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        out += text.slice(chunkStart, pos);
        this.pos = pos + 1;
        return out;
      }
      if (c === 0x5c) {
        out += text.slice(chunkStart, pos);
        this.pos = pos;
        const decoded = this.parseEscape();
        out += decoded;
        pos = this.pos;
        chunkStart = pos;
        continue;
      }
      if (c < 0x20) {
        this.pos = pos;
        this.fail('control character in string');
      }
      if (c >= 0xd800 && c <= 0xdfff) pos = this.checkRawSurrogate(pos);
      else pos++;
    }
  }

  /** A raw surrogate in a string input must be a well-formed pair (otherwise it is not UTF-8 text). */
  private checkRawSurrogate(pos: number): number {
    const c = this.text.charCodeAt(pos);
    if (c <= 0xdbff) {
      const next = pos + 1 < this.length ? this.text.charCodeAt(pos + 1) : 0;
      if (next >= 0xdc00 && next <= 0xdfff) return pos + 2;
    }
    throw new BundleError('ERR_BUNDLE_NOT_UTF8', 'document contains a lone surrogate', {
      context: { position: pos },
    });
  }

  /** Parses one escape at this.pos (the backslash); leaves this.pos after it. */
  private parseEscape(): string {
    const text = this.text;
    const c = this.pos + 1 < this.length ? text.charCodeAt(this.pos + 1) : -1;
    this.pos += 2;
    switch (c) {
      case 0x22:
        return '"';
      case 0x5c:
        return '\\';
      case 0x2f:
        return '/';
      case 0x62:
        return '\b';
      case 0x66:
        return '\f';
      case 0x6e:
        return '\n';
      case 0x72:
        return '\r';
      case 0x74:
        return '\t';
      case 0x75: {
        const unit = this.readHex4();
        if (unit >= 0xd800 && unit <= 0xdbff) {
          // A high surrogate must be followed by an escaped low surrogate (RFC 8259 §7, I-JSON §2.1).
          if (text.charCodeAt(this.pos) === 0x5c && text.charCodeAt(this.pos + 1) === 0x75) {
            this.pos += 2;
            const low = this.readHex4();
            if (low >= 0xdc00 && low <= 0xdfff) return String.fromCharCode(unit, low);
          }
          this.fail('unpaired surrogate escape');
        }
        if (unit >= 0xdc00 && unit <= 0xdfff) this.fail('unpaired surrogate escape');
        return String.fromCharCode(unit);
      }
      default:
        this.pos -= 1;
        return this.fail('invalid escape');
    }
  }

  private readHex4(): number {
    if (this.pos + 4 > this.length) this.fail('truncated \\u escape');
    let value = 0;
    for (let i = 0; i < 4; i++) {
      const h = hexValue(this.text.charCodeAt(this.pos + i));
      if (h < 0) {
        this.pos += i;
        this.fail('invalid \\u escape');
      }
      value = value * 16 + h;
    }
    this.pos += 4;
    return value;
  }

  /** number = [ minus ] int [ frac ] [ exp ] (RFC 8259 §6). */
  private parseNumber(): JsonNumber {
    const text = this.text;
    const start = this.pos;
    let pos = start;
    if (text.charCodeAt(pos) === 0x2d) pos++;
    const first = text.charCodeAt(pos);
    if (first === 0x30) {
      pos++;
      if (isDigit(text.charCodeAt(pos))) {
        this.pos = pos;
        this.fail('leading zero in number');
      }
    } else if (isDigit(first)) {
      pos++;
      while (isDigit(text.charCodeAt(pos))) pos++;
    } else {
      this.pos = pos;
      this.fail('invalid number');
    }
    if (text.charCodeAt(pos) === 0x2e) {
      pos++;
      if (!isDigit(text.charCodeAt(pos))) {
        this.pos = pos;
        this.fail('digit expected after decimal point');
      }
      while (isDigit(text.charCodeAt(pos))) pos++;
    }
    const e = text.charCodeAt(pos);
    if (e === 0x65 || e === 0x45) {
      pos++;
      const sign = text.charCodeAt(pos);
      if (sign === 0x2b || sign === 0x2d) pos++;
      if (!isDigit(text.charCodeAt(pos))) {
        this.pos = pos;
        this.fail('digit expected in exponent');
      }
      while (isDigit(text.charCodeAt(pos))) pos++;
    }
    this.pos = pos;
    return new JsonNumber(text.slice(start, pos));
  }
}

/** Serialises a parsed value back to compact JSON text, numbers exactly as they were written. */
export function stringifyJsonValue(value: JsonValue): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') {
    return JSON.stringify(value);
  }
  if (value instanceof JsonNumber) return value.raw;
  if (Array.isArray(value)) {
    return `[${(value as JsonArray).map((item) => stringifyJsonValue(item)).join(',')}]`;
  }
  const object = value as JsonObject;
  const parts: string[] = [];
  for (const name of Object.keys(object)) {
    parts.push(`${JSON.stringify(name)}:${stringifyJsonValue(object[name] as JsonValue)}`);
  }
  return `{${parts.join(',')}}`;
}
