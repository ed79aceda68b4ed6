// @vitest-environment node
import { describe, expect, it } from 'vitest';
import { SseParser, readSse } from './sse';

describe('SseParser', () => {
  it('parses named events, multi-line data, ids and comments across chunks', () => {
    const p = new SseParser();
    expect(p.push(': heartbeat\n\nevent: added\nid: 1-1\ndata: {"a":')).toEqual([]);
    expect(p.push('1}\n\n')).toEqual([{ event: 'added', data: '{"a":1}', id: '1-1' }]);
    expect(p.push('data: line one\r\ndata: line two\r\n\r\n')).toEqual([{ event: 'message', data: 'line one\nline two', id: '1-1' }]);
    expect(p.lastEventId).toBe('1-1');
  });
  it('a \\r\\n split between chunks is one line end', () => {
    const p = new SseParser();
    expect(p.push('event: removed\r')).toEqual([]);
    expect(p.push('\ndata: x\r')).toEqual([]);
    expect(p.push('\n\r\n')).toEqual([{ event: 'removed', data: 'x', id: '' }]);
  });
  it('an event without data is not dispatched', () => {
    expect(new SseParser().push('event: reset\n\n')).toEqual([]);
  });
});

describe('readSse', () => {
  it('reads a streaming body to its end', async () => {
    const enc = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(enc.encode('event: added\ndata: 1\n\nevent: modif'));
        c.enqueue(enc.encode('ied\ndata: 2\n\n'));
        c.close();
      },
    });
    const got: string[] = [];
    await readSse(new Response(body), (e) => got.push(`${e.event}:${e.data}`));
    expect(got).toEqual(['added:1', 'modified:2']);
  });
});
