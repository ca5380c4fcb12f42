// Types of wsedge.js, the browser client of a wsedge node (docs/client.md).

/** Timing defaults, in milliseconds (unavailableAfter is a count). */
export declare const DEFAULTS: Readonly<Timing>;

/** Error codes made by the library itself; server codes (PERMISSION_DENIED, ...) pass through. */
export declare const TIMEOUT: "TIMEOUT";
export declare const DISCONNECTED: "DISCONNECTED";
export declare const CLOSED: "CLOSED";
export declare const UNAUTHORIZED: "UNAUTHORIZED";

export interface Timing {
  /** A request without a reply fails with TIMEOUT after this. Default 10000. */
  timeout: number;
  /** From new WebSocket to open and the connect reply. Default 10000. */
  connectTimeout: number;
  /** First ceiling of the full-jitter backoff, doubled per failure. Default 1000. */
  backoffBase: number;
  /** The backoff ceiling never passes this. Default 30000. */
  backoffCap: number;
  /** No reconnect sooner than this. Default 100. */
  backoffMin: number;
  /** After close 1001 or 1012: a random delay in [backoffMin, restartDelay]. Default 2000. */
  restartDelay: number;
  /** Failures before open in a row that mean "node unavailable". Default 3. */
  unavailableAfter: number;
  /** Node unavailable (or close 1008/1013): unavailableMin + full jitter up to unavailableCap. Default 5000. */
  unavailableMin: number;
  /** Default 60000. */
  unavailableCap: number;
  /** A connection up this long resets the backoff. Default 5000. */
  stableAfter: number;
  /** Refresh the token this long before exp (at most half its remaining life). Default 30000. */
  refreshMargin: number;
  /** How long a liveness ping may take when the network returns or the page shows. Default 5000. */
  checkTimeout: number;
}

/** What the library needs from its runtime; the browser's by default. For tests and non-browser runtimes. */
export interface Environment {
  WebSocket: new (url: string) => WebSocketLike;
  setTimeout(fn: () => void, ms: number): any;
  clearTimeout(handle: any): void;
  now(): number;
  random(): number;
  window?: EventTargetLike;
  document?: EventTargetLike & { visibilityState?: string };
  navigator?: { onLine?: boolean };
  /** Where an exception thrown by a listener goes (the browser's reportError by default). */
  reportError(error: unknown): void;
}

export interface WebSocketLike {
  readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: any }) => void) | null;
  onerror: ((ev: any) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
}

export interface EventTargetLike {
  addEventListener(name: string, fn: () => void): void;
  removeEventListener(name: string, fn: () => void): void;
}

export interface ConnectOptions extends Partial<Timing> {
  /** ws:// or wss:// URL of the node's JSON endpoint, e.g. wss://example.com/ws. */
  url: string;
  /** A connection token (JWT), sent in the first message (`connect`). */
  token?: string;
  /**
   * Asked for a token before connecting when there is none or it is about to
   * expire, before exp to `refresh`, and after close 4001. Resolve to null or ""
   * to stop (the user is logged out); a rejection is retried with backoff.
   */
  getToken?: () => Promise<string | null> | string | null;
  env?: Partial<Environment>;
}

export type State = "connecting" | "connected" | "disconnected" | "closed";

export interface ConnectedInfo { client?: string; user?: string }

export interface PushMessage { type: "message"; channel: string; data: any }
export interface ChannelEvent { type: "subscribed" | "unsubscribed"; channel: string }
export interface JoinLeave { type: "join" | "leave"; channel: string; user: string; info?: any }

export interface ErrorEvent {
  /** Where it happened: connect, token, refresh, subscribe, unsubscribe, transport, protocol, server, stopped. */
  type: string;
  error: WsedgeError | Error;
  channel?: string;
}

export interface Events {
  /** A connection attempt starts (attempt: failures in a row before it). */
  connecting: { attempt: number };
  /** Open and, with a token, accepted; subscriptions have been sent again. */
  connected: ConnectedInfo;
  /** The socket is gone; code 0 when no socket was made (no token, getToken failed, bad URL). */
  disconnected: { code: number; reason: string };
  /** The next attempt starts in inMs milliseconds; kind is why (restart, backoff, failed, unavailable, slow, token). */
  reconnecting: { inMs: number; attempt: number; kind: string };
  /** The token was refreshed; exp of the new one (seconds), null if it has none. */
  refreshed: { exp: number | null };
  error: ErrorEvent;
  message: PushMessage;
  subscribed: ChannelEvent;
  unsubscribed: ChannelEvent;
  join: JoinLeave;
  leave: JoinLeave;
}

export interface PresenceClient { client: string; user: string; info?: any }

/** Call to unsubscribe; `ready` settles with the server's ack of the current (re)subscription. */
export interface Unsubscribe {
  (): void;
  readonly ready: Promise<void>;
  readonly channel: string;
}

export interface SubscribeOptions {
  /** A subscription token for namespaces with subscribe: token. */
  token?: string;
  /** Asked for a subscription token at every (re)subscribe. */
  getToken?: (channel: string) => Promise<string> | string;
}

export declare class WsedgeError extends Error {
  constructor(code: string, message?: string);
  readonly code: string;
}

export declare class Client {
  constructor(options: ConnectOptions);
  readonly state: State;
  readonly info: ConnectedInfo;
  on<K extends keyof Events>(event: K, fn: (payload: Events[K]) => void): () => void;
  off<K extends keyof Events>(event: K, fn: (payload: Events[K]) => void): void;
  subscribe(channel: string, onMessage?: (data: any, msg: PushMessage) => void, opts?: SubscribeOptions): Unsubscribe;
  channels(): string[];
  publish(channel: string, data: any): Promise<void>;
  rpc(method: string, data?: any): Promise<any>;
  presence(channel: string): Promise<PresenceClient[]>;
  /** Round trip of a protocol ping in milliseconds. */
  ping(): Promise<number>;
  /** Any message type; resolves with the reply that carries its id. */
  request(msg: { type: string; [field: string]: any }, opts?: { timeout?: number }): Promise<any>;
  setToken(token: string | null): void;
  reconnect(): void;
  close(): void;
}

export declare function connect(options: ConnectOptions): Client;
export declare function backoffDelay(attempt: number, o: Pick<Timing, "backoffBase" | "backoffCap" | "backoffMin">, random: () => number): number;
export declare function closeKind(code: number, opened: boolean): "restart" | "token" | "stop" | "slow" | "failed" | "backoff";
export declare function reconnectDelay(kind: string, attempt: number, o: Timing, random: () => number): number;
export declare function jwtExp(token: string): number | null;
export declare function refreshDelay(expSec: number, nowMs: number, margin: number): number;
