// A Server-Sent Events reader over fetch, for streams EventSource cannot open (a POST with a
// body: POST …/database/documents/query/subscribe). Same framing rules as EventSource.

export interface SseEvent {
  event: string;
  data: string;
  id: string;
}

/** Incremental parser: push() text as it arrives, get the complete events. */
export class SseParser {
  private buf = '';
  private data: string[] = [];
  private event = '';
  private id = '';
  lastEventId = '';

  push(chunk: string): SseEvent[] {
    this.buf += chunk;
    const out: SseEvent[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buf);
      if (!m) break;
      // a lone \r at the end may be the first half of \r\n: wait for more
      if (m[0] === '\r' && m.index === this.buf.length - 1) break;
      const line = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      if (line === '') {
        if (this.data.length) {
          out.push({ event: this.event || 'message', data: this.data.join('\n'), id: this.id });
        }
        this.data = [];
        this.event = '';
        continue;
      }
      if (line.startsWith(':')) continue; // a comment (heartbeat)
      const c = line.indexOf(':');
      const field = c < 0 ? line : line.slice(0, c);
      let value = c < 0 ? '' : line.slice(c + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') this.data.push(value);
      else if (field === 'event') this.event = value;
      else if (field === 'id' && !value.includes('\0')) {
        this.id = value;
        this.lastEventId = value;
      }
    }
    return out;
  }
}

/** Reads a streaming Response body as SSE events until it ends or the signal aborts. */
export async function readSse(res: Response, onEvent: (e: SseEvent) => void): Promise<void> {
  if (!res.body) return;
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  const p = new SseParser();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    for (const e of p.push(value)) onEvent(e);
  }
}
