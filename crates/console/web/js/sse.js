// The live trace of an agent over Server-Sent Events (`GET api/v1/trace`), and the global
// connection indicator `[data-testid=conn-status]`.
//
// EventSource reconnects by itself and sends Last-Event-ID (the hub resumes after it). When the
// browser gives up (the connection is CLOSED, e.g. the hub answered an error status) we open a
// new one ourselves from the last seq seen, with a growing delay. `event: end` (a trace that
// ends, e.g. an imported agent's) closes the stream; `event: rpc_error` reports the error and
// reconnects unless the agent does not exist. Seqs already seen are dropped here as well as in
// the model.

import { traceUrl } from './api.js';
import { fromGateway } from './trace_model.js';

let connEl = null;

/** Sets the global connection indicator: `live`, `reconnecting`, `ended`, `offline` or `idle`. */
export function setConn(state, title = '') {
  if (!connEl || !connEl.isConnected) connEl = document.querySelector('[data-testid=conn-status]');
  if (!connEl) return;
  connEl.textContent = state;
  connEl.dataset.state = state;
  connEl.title = title || state;
}

export class TraceStream {
  /**
   * `handlers`: `onEvents(events)` (normalized, in order, new seqs only), `onToken(event)`,
   * `onEnd()`, `onError({code, message})`, `finished()` (whether a dropped stream is over
   * rather than broken: then it is not reopened).
   */
  constructor(agentId, handlers) {
    this.agentId = agentId;
    this.handlers = handlers;
    this.lastSeq = 0;
    this.source = null;
    this.closed = false;
    this.retryTimer = 0;
    this.failures = 0;
    this.batch = [];
    this.batchTimer = 0;
  }

  start() {
    this.closed = false;
    this.open();
    return this;
  }

  open() {
    if (this.closed) return;
    const url = traceUrl(this.agentId, { afterSeq: this.lastSeq, follow: true, ephemeral: true });
    const source = new EventSource(url);
    this.source = source;
    setConn('reconnecting', 'connecting to the trace stream');
    source.addEventListener('open', () => {
      this.failures = 0;
      setConn('live', `following agent ${this.agentId}`);
    });
    source.addEventListener('error', () => {
      if (this.closed) return;
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up: reopen from the last seq after a delay.
        this.failures++;
        setConn('reconnecting', 'the trace stream failed; retrying');
        this.retryLater();
      } else {
        this.flushBatch();
        if (this.handlers.finished?.()) {
          // A followed trace that ends (an imported agent's) closes without `event: end`.
          this.stopSource();
          setConn('ended', 'the trace ended');
          this.handlers.onEnd?.();
        } else {
          setConn('reconnecting', 'the trace stream dropped; the browser is reconnecting');
        }
      }
    });
    source.addEventListener('trace', (msg) => this.onMessage(msg));
    source.addEventListener('end', () => {
      this.flushBatch();
      this.stopSource();
      setConn('ended', 'the trace ended (every run of this agent has ended)');
      this.handlers.onEnd?.();
    });
    source.addEventListener('rpc_error', (msg) => {
      let err = { code: 'unknown', message: 'trace failed' };
      try {
        err = JSON.parse(msg.data);
      } catch {
        // keep the default
      }
      this.flushBatch();
      this.stopSource();
      this.handlers.onError?.(err);
      if (err.code === 'not_found' || err.code === 'invalid_argument') {
        setConn('offline', err.message);
      } else {
        this.failures++;
        setConn('reconnecting', err.message);
        this.retryLater();
      }
    });
  }

  onMessage(msg) {
    let raw;
    try {
      raw = JSON.parse(msg.data);
    } catch {
      return;
    }
    const event = fromGateway(raw);
    if (event.seq === 0) {
      this.handlers.onToken?.(event);
      return;
    }
    if (event.seq <= this.lastSeq) return;
    this.lastSeq = event.seq;
    // Events of one burst (the replay of the backlog) are handed over together.
    this.batch.push(event);
    if (!this.batchTimer) this.batchTimer = setTimeout(() => this.flushBatch(), 0);
  }

  flushBatch() {
    clearTimeout(this.batchTimer);
    this.batchTimer = 0;
    if (!this.batch.length) return;
    const events = this.batch;
    this.batch = [];
    this.handlers.onEvents?.(events);
  }

  retryLater() {
    this.stopSource();
    clearTimeout(this.retryTimer);
    const delay = Math.min(10000, 500 * 2 ** Math.min(this.failures, 5));
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  stopSource() {
    if (this.source) {
      this.source.close();
      this.source = null;
    }
  }

  close() {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.batchTimer);
    this.batch = [];
    this.stopSource();
    setConn('idle', 'no live stream on this page');
  }
}
