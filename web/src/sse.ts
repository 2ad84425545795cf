// Server-Sent Events over fetch(): the browser's EventSource cannot send an
// Authorization header, so the stream is read and parsed here, and resumed
// after a drop with `Last-Event-ID` (the service sends what was missed).

export interface SseMessage {
  id: string | null;
  event: string;
  data: string;
}

export class EventStream {
  private abort: AbortController | null = null;
  private stopped = false;
  lastEventId: string | null = null;
  /// 'connecting' | 'open' | 'closed' | 'error: …', for the status line.
  state = 'closed';

  constructor(
    private url: string,
    private token: () => string | null,
    private onMessage: (m: SseMessage) => void,
    private onState: (s: string) => void = () => {},
  ) {}

  start() {
    this.stopped = false;
    void this.loop();
  }

  /// Reconnects, asking again for everything after `seq` (duplicates are
  /// the caller's to drop).
  resync(seq: number) {
    this.lastEventId = String(seq);
    this.abort?.abort();
  }

  stop() {
    this.stopped = true;
    this.abort?.abort();
    this.setState('closed');
  }

  private setState(s: string) {
    this.state = s;
    this.onState(s);
  }

  private async loop() {
    let delay = 500;
    while (!this.stopped) {
      try {
        await this.connect();
        delay = 500; // a clean end (server restart): reconnect soon
      } catch (e: any) {
        if (this.stopped) return;
        if (e?.name === 'AbortError') {
          delay = 500;
          continue; // a resync: at once
        }
        this.setState(`error: ${e?.message || e}`);
      }
      if (this.stopped) return;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 10_000);
    }
  }

  private async connect() {
    this.abort = new AbortController();
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    const tok = this.token();
    if (tok) headers['Authorization'] = `Bearer ${tok}`;
    if (this.lastEventId !== null) headers['Last-Event-ID'] = this.lastEventId;
    this.setState('connecting');
    const resp = await fetch(this.url, { headers, signal: this.abort.signal, cache: 'no-store' });
    if (!resp.ok || !resp.body) {
      let msg = `${resp.status}`;
      try {
        msg = (await resp.json()).message || msg;
      } catch {
        /* not JSON */
      }
      throw new Error(msg);
    }
    this.setState('open');
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    const parser = new SseParser((m) => {
      if (m.id !== null) this.lastEventId = m.id;
      this.onMessage(m);
    });
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      parser.push(value);
    }
    this.setState('closed');
  }
}

/// The SSE wire format (WHATWG HTML §9.2.6): lines of `field: value`, a
/// blank line dispatches; `:` starts a comment (keep-alives).
export class SseParser {
  private buf = '';
  private data: string[] = [];
  private event = '';
  private id: string | null = null;

  constructor(private emit: (m: SseMessage) => void) {}

  push(chunk: string) {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buf.slice(0, nl);
      const len = this.buf[nl] === '\r' && this.buf[nl + 1] === '\n' ? 2 : 1;
      // A lone '\r' at the end of the chunk may be the first half of '\r\n'.
      if (this.buf[nl] === '\r' && nl + 1 === this.buf.length) break;
      this.buf = this.buf.slice(nl + len);
      this.line(line);
    }
  }

  private line(line: string) {
    if (line === '') {
      if (this.data.length) {
        this.emit({ id: this.id, event: this.event || 'message', data: this.data.join('\n') });
      }
      this.data = [];
      this.event = '';
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.id = value;
  }
}
