// Reads server-sent events (the agent API's bundle watch) from a fetch Response body in tests:
// every read is bounded by a timeout, so a stream that stalls fails the test instead of hanging it.
// Its own small SSE parser, independent of the agent SDK's.

/** Default bound on one read, in ms. */
const READ_TIMEOUT_MS = 5_000;

export interface SseEvent {
  readonly event: string;
  readonly data: string;
  readonly id: string | undefined;
}

/** Reads server-sent events from a body stream; every read is bounded by a timeout. */
export class SseReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #decoder = new TextDecoder();
  #buffer = '';
  #done = false;

  constructor(body: ReadableStream<Uint8Array> | null) {
    if (body === null) throw new TypeError('no body');
    this.#reader = body.getReader();
  }

  /** The next event (comment-only blocks skipped), or 'closed' when the stream ends. */
  async next(timeoutMs = READ_TIMEOUT_MS): Promise<SseEvent | 'closed'> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const split = this.#buffer.indexOf('\n\n');
      if (split >= 0) {
        const block = this.#buffer.slice(0, split);
        this.#buffer = this.#buffer.slice(split + 2);
        const event = parseSseBlock(block);
        if (event !== undefined) return event;
        continue;
      }
      if (this.#done) return 'closed';
      const chunk = await readWithin(this.#reader, deadline - Date.now());
      if (chunk.done) {
        this.#done = true;
        continue;
      }
      this.#buffer += this.#decoder.decode(chunk.value, { stream: true });
    }
  }

  /** The next event of type `type`, skipping others. */
  async nextOf(type: string, timeoutMs = READ_TIMEOUT_MS): Promise<SseEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const event = await this.next(Math.max(1, deadline - Date.now()));
      if (event === 'closed') throw new Error(`stream closed before an "${type}" event`);
      if (event.event === type) return event;
    }
  }

  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => undefined);
  }
}

function parseSseBlock(block: string): SseEvent | undefined {
  let event = 'message';
  let id: string | undefined;
  const data: string[] = [];
  let any = false;
  for (const line of block.split('\n')) {
    if (line.startsWith(':') || line === '') continue;
    any = true;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
    else if (field === 'id') id = value;
  }
  return any ? { event, data: data.join('\n'), id } : undefined;
}

async function readWithin(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  ms: number,
): Promise<Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']>>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no SSE data within the timeout`)), Math.max(1, ms));
  });
  try {
    return await Promise.race([reader.read(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function bundlesEventBody(event: SseEvent): { bundles: Record<string, unknown> } {
  return JSON.parse(event.data) as { bundles: Record<string, unknown> };
}
