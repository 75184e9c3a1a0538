import { BACKEND, THREADS } from '../engine/engine-options.js';
import {
  defineOptions,
  resolveOptions,
  type CustomSpec,
  type OptionsOf,
  type Resolved,
} from '../util/option-schema.js';
import { DETECTOR, MODEL_DIR } from '../api/predict-options.js';
import { UserError } from '../util/errors.js';

const isHost = (v: unknown): v is string => typeof v === 'string' && /^[\w.:[\]-]+$/.test(v);
const HOST_EXPECT = 'an address, e.g. 127.0.0.1 or 0.0.0.0';
const HOST = {
  type: 'custom',
  arg: 'addr',
  default: '127.0.0.1',
  help: 'address to listen on (0.0.0.0 for all interfaces, e.g. in a container)',
  expect: HOST_EXPECT,
  check: isHost,
  parse: (text: string, flag: string) => {
    if (!isHost(text)) throw new UserError(`${flag} "${text}": expected ${HOST_EXPECT}`);
    return text;
  },
} satisfies CustomSpec<string>;

/**
 * `agegender serve`'s options and `serve()`'s, declared once (src/util/option-schema.ts). The limits' defaults:
 * - 10 MiB covers any phone photo; 40 Mpx is a 7,300 x 5,500 photo (about 120 MB of RGB once decoded);
 * - one inference at a time (the model already uses the one engine fully); a queue of 16 holds a burst of
 *   a few seconds at ~0.1-0.3 s per image, beyond it 503 + Retry-After;
 * - a request must arrive within 30 s (10 MiB at ~3 Mbit/s), its headers within 10 s; an idle keep-alive
 *   connection is dropped after 5 s, a connection where nothing moves after 60 s (longer than a full
 *   queue's wait); 128 connections at most: with the timeouts, a client that opens many and sends
 *   slowly holds at most 128 x --max-body-mb for 30 s, not the process's memory for ever.
 */
export const SERVE_OPTIONS = defineOptions({
  port: { type: 'int', min: 0, max: 65535, default: 8080, help: 'TCP port (0 picks a free one)' },
  host: HOST,
  modelDir: MODEL_DIR,
  backend: BACKEND,
  threads: THREADS,
  detector: DETECTOR,
  maxBodyMb: {
    type: 'number',
    min: 0.001,
    max: 1024,
    default: 10,
    help: 'largest request body in MiB (413 above)',
  },
  maxPixels: {
    type: 'int',
    min: 1,
    max: 1_000_000_000,
    default: 40_000_000,
    help: 'largest image in pixels, read from its header before decoding (413 above)',
  },
  concurrency: { type: 'int', min: 1, max: 64, default: 1, help: 'inferences run at once' },
  queue: {
    type: 'int',
    min: 0,
    max: 10_000,
    default: 16,
    help: 'requests that may wait for an inference slot (503 + Retry-After beyond)',
  },
  requestTimeout: {
    type: 'number',
    min: 0.1,
    max: 3600,
    default: 30,
    arg: 's',
    help: 'seconds to receive a whole request, headers and body (408 and the connection closed after)',
  },
  headersTimeout: {
    type: 'number',
    min: 0.1,
    max: 3600,
    default: 10,
    arg: 's',
    help: "seconds to receive a request's headers (at most --request-timeout)",
  },
  keepAliveTimeout: {
    type: 'number',
    min: 0.1,
    max: 3600,
    default: 5,
    arg: 's',
    help: 'seconds an idle keep-alive connection stays open',
  },
  idleTimeout: {
    type: 'number',
    min: 1,
    max: 3600,
    default: 60,
    arg: 's',
    help: 'seconds a connection may stay silent (no byte in or out) before it is closed',
  },
  maxConnections: {
    type: 'int',
    min: 1,
    max: 100_000,
    default: 128,
    help: 'open connections at most (the ones past it are closed at once)',
  },
  shutdownTimeout: {
    type: 'number',
    min: 0,
    max: 3600,
    default: 10,
    arg: 's',
    help: 'on close (SIGTERM/SIGINT), seconds requests in flight may take before their connections are cut',
  },
  log: { type: 'boolean', default: true, help: 'request log lines (JSON) on stdout (--no-log: none)' },
});

export type ServeOptions = OptionsOf<typeof SERVE_OPTIONS>;
export type ResolvedServeOptions = Resolved<typeof SERVE_OPTIONS>;

/** What the HTTP server enforces (src/serve/server.ts), in the units it uses. */
export interface ServeLimits {
  /** Largest request body (raw or multipart file), bytes. */
  maxBodyBytes: number;
  /** Largest image, width * height read from its header before decoding. */
  maxPixels: number;
  /** Inferences running at once. */
  concurrency: number;
  /** Requests waiting for an inference slot; one more gets 503. */
  queue: number;
  /** A request (headers and body) must be received within this, else 408 and the connection is closed. */
  requestTimeoutS: number;
  /** The headers must be received within this (a client that trickles a header is cut sooner). */
  headersTimeoutS: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutS: number;
  /** A connection on which nothing moves for this long (no byte in or out) is closed. */
  idleTimeoutS: number;
  /** Open connections at most; the ones past it are closed at once. */
  maxConnections: number;
}

export function limitsOf(o: ResolvedServeOptions): ServeLimits {
  return {
    maxBodyBytes: Math.round(o.maxBodyMb * 1024 * 1024),
    maxPixels: o.maxPixels,
    concurrency: o.concurrency,
    queue: o.queue,
    requestTimeoutS: o.requestTimeout,
    headersTimeoutS: Math.min(o.headersTimeout, o.requestTimeout),
    keepAliveTimeoutS: o.keepAliveTimeout,
    idleTimeoutS: o.idleTimeout,
    maxConnections: o.maxConnections,
  };
}

export const DEFAULT_LIMITS: ServeLimits = limitsOf(resolveOptions('serve', SERVE_OPTIONS, {}));
