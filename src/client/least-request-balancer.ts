/**
 * The `least_request` balancing policy for grpc-js: each call goes to the ready instance with the
 * fewest of this client's calls still open on it; ties go round in turn, so an idle client spreads
 * like round_robin. Calls differ in cost (a receipt against an A4 form), and far more (a batch of
 * lines against a tile stream); round_robin hands out calls in turn whatever each instance still
 * has open, so a backlog grows on one instance while another has room. Counting open calls sends
 * the next call where it will start soonest, as Nginx's least_conn does, without a proxy (measured
 * in docs/BENCHMARKS.md, "The cluster").
 *
 * The instances are grpc-js's own LeafLoadBalancer children, as in its round_robin policy; only the
 * picker differs. A call counts from the moment it starts on an instance to its end, streams
 * included, and retries count where each attempt runs.
 *
 * An instance that refused a call for overload (RESOURCE_EXHAUSTED with a grpc-retry-pushback-ms
 * hint) comes last, for calls of that priority, until it expects room for a new call (its
 * ocr-new-call-pushback-ms, else that hint): its refusals end calls at once, so by open calls alone
 * it would look the least loaded and draw every next call, the retry of the refused one included.
 * When every ready instance has refused the priority a call names for load (not for one caller's
 * quota, which says nothing of the others' calls), the call is refused here without being sent
 * (localRefusal): a caller that loops on refusals, as 40 batch callers beside interactive ones do,
 * otherwise cost each instance's main thread an upload and a refusal some 300 times a second, and
 * its own host as much again (docs/BENCHMARKS.md, "Refused before sending").
 */
import { connectivityState as ConnectivityState, experimental, type Metadata } from '@grpc/grpc-js';
import { PRIORITY_METADATA_KEY, type Priority } from './call-settings.js';
import { localRefusal } from './local-refusal.js';
import { instanceFullMs, overloadNewCallPushbackMs } from './retry-pushback.js';

type Endpoint = experimental.Endpoint;
type Picker = experimental.Picker;
type PickArgs = experimental.PickArgs;
type PickResult = experimental.PickResult;
type ChannelControlHelper = experimental.ChannelControlHelper;
type ChannelOptions = ConstructorParameters<typeof experimental.LeafLoadBalancer>[2];
type EndpointList = Parameters<experimental.LoadBalancer['updateAddressList']>[0];

export const LEAST_REQUEST = 'least_request';

class LeastRequestConfig implements experimental.TypedLoadBalancingConfig {
  getLoadBalancerName(): string {
    return LEAST_REQUEST;
  }

  toJsonObject(): object {
    return { [LEAST_REQUEST]: {} };
  }

  static createFromJson(): LeastRequestConfig {
    return new LeastRequestConfig();
  }
}

/** Calls open on one instance; kept by endpoint across pickers, so counts survive state changes. */
interface OpenCalls {
  count: number;
  /**
   * Date.now() until which the instance asked, by its last refusal, not to be sent calls of each
   * priority: it comes last for them. A refused interactive call closes it to batch calls too: they
   * come after every interactive one.
   */
  refusedUntil: Record<Priority, number>;
  /**
   * The same, from its refusals for load alone (instanceFullMs): until then it has no room for any
   * caller's call of that priority, and when no instance has, calls are refused here.
   */
  fullUntil: Record<Priority, number>;
}

/**
 * How much longer than its hint a refusing instance stays last: the retries the hint delayed fire
 * as it ends, and must not land back on the instance that refused them.
 */
const REFUSAL_MARGIN_MS = 50;

interface ReadyInstance {
  picker: Picker;
  open: OpenCalls;
}

/** Where the scan for the least loaded instance starts; kept by the balancer across its pickers. */
interface Turn {
  next: number;
}

/** The choice among the ready instances, given their open calls. */
class LeastRequestPicker implements Picker {
  constructor(
    private readonly instances: readonly ReadyInstance[],
    private readonly turn: Turn,
  ) {}

  pick(args: PickArgs): PickResult {
    const named = namedPriority(args.metadata);
    const priority = named ?? 'interactive';
    const now = Date.now();
    const index = this.choose(priority, now, named !== undefined);
    if (index === null) return this.refuse(priority, now);
    const chosen = this.instances[index]!;
    const result = chosen.picker.pick(args);
    if (result.pickResultType !== experimental.PickResultType.COMPLETE) return result;
    const { onCallStarted, onCallEnded } = result;
    return {
      ...result,
      onCallStarted: () => {
        chosen.open.count++;
        onCallStarted?.();
      },
      onCallEnded: (code, details, metadata) => {
        chosen.open.count--;
        const pushbackMs = overloadNewCallPushbackMs(code, metadata);
        if (pushbackMs !== null) refusedBy(chosen.open.refusedUntil, priority, Date.now() + pushbackMs + REFUSAL_MARGIN_MS);
        const fullMs = instanceFullMs(code, metadata);
        if (fullMs !== null) refusedBy(chosen.open.fullUntil, priority, Date.now() + fullMs + REFUSAL_MARGIN_MS);
        onCallEnded?.(code, details, metadata);
      },
    };
  }

  /**
   * The index of the instance with the fewest open calls, scanning from the turn's start, among
   * those not refusing calls of `priority` if there are any; null when every one is full for them
   * and the call is `refusable`.
   */
  choose(priority: Priority, now: number, refusable: boolean): number | null {
    if (refusable && this.instances.every((i) => i.open.fullUntil[priority] > now)) return null;
    const n = this.instances.length;
    const start = this.turn.next % n;
    const rank = (i: number): number => {
      const { count, refusedUntil } = this.instances[i]!.open;
      return refusedUntil[priority] > now ? count + Number.MAX_SAFE_INTEGER / 2 : count;
    };
    let best = start;
    for (let k = 1; k < n; k++) {
      const i = (start + k) % n;
      if (rank(i) < rank(best)) best = i;
    }
    this.turn.next = best + 1;
    return best;
  }

  /** Every instance refuses `priority` for now: the call ends here, with a hint of when the first expects room. */
  private refuse(priority: Priority, now: number): PickResult {
    const waitMs = Math.max(1, Math.min(...this.instances.map((i) => i.open.fullUntil[priority])) - now);
    return {
      pickResultType: experimental.PickResultType.DROP,
      status: localRefusal(priority, waitMs),
      subchannel: null,
      onCallStarted: null,
      onCallEnded: null,
    };
  }
}

/**
 * The priority a call names in its metadata. OcrClient names one on each Recognize and
 * RecognizeLines, the calls a server refuses for load; a call that names none (GetServerInfo, a
 * health check, a tile stream without one) is never refused here, only sent elsewhere first.
 */
function namedPriority(metadata: Metadata): Priority | undefined {
  const [value] = metadata.get(PRIORITY_METADATA_KEY);
  return value === 'batch' || value === 'interactive' ? value : undefined;
}

/** Note an instance's refusal of a call of `priority`: closed to that priority until `until`, and to batch at least as long. */
function refusedBy(closed: Record<Priority, number>, priority: Priority, until: number): void {
  if (priority === 'batch') {
    closed.batch = until;
    return;
  }
  closed.interactive = until;
  closed.batch = Math.max(closed.batch, until);
}

/** Whether `children` are the instances `keys` name (experimental.endpointToString), in that order. */
function sameEndpoints(children: readonly experimental.LeafLoadBalancer[], keys: readonly string[]): boolean {
  return children.length === keys.length && children.every((c, i) => experimental.endpointToString(c.getEndpoint()) === keys[i]);
}

/**
 * How long, before its first picker, a balancer waits for the other instances once one has connected.
 * Published at once, its first picker had that one instance alone, and every call made before the
 * connections (a new client's first calls) went to it: four new callers over two instances queued
 * four documents on one and none on the other, the last past a 10 s deadline on a slow machine
 * (docs/BENCHMARKS.md, "Two instances"). Over a network the others connect within milliseconds.
 */
const FIRST_CONNECT_GRACE_MS = 250;

class LeastRequestLoadBalancer implements experimental.LoadBalancer {
  private children: experimental.LeafLoadBalancer[] = [];
  /** Whether a picker over ready instances has been published yet. */
  private servedReady = false;
  /** Until when the first picker waits for instances still connecting (FIRST_CONNECT_GRACE_MS). */
  private firstWaitUntil: number | undefined;
  private firstWait: NodeJS.Timeout | undefined;
  private readonly open = new Map<string, OpenCalls>();
  // A random first turn, so that many idle clients do not all start on the same instance.
  private readonly turn: Turn = { next: Math.floor(Math.random() * 1024) };
  private readonly childHelper: ChannelControlHelper;
  private state = ConnectivityState.IDLE;
  private updatesPaused = false;
  private lastError: string | null = null;

  constructor(private readonly helper: ChannelControlHelper) {
    this.childHelper = experimental.createChildChannelControlHelper(helper, {
      updateState: (childState, _picker, errorMessage) => {
        // A lost connection may mean a changed address: ask the resolver again, as round_robin does.
        if (this.state === ConnectivityState.READY && childState !== ConnectivityState.READY) helper.requestReresolution();
        if (errorMessage) this.lastError = errorMessage;
        this.publish();
      },
    });
  }

  updateAddressList(
    endpoints: EndpointList,
    config: experimental.TypedLoadBalancingConfig,
    options: ChannelOptions,
    note: string,
  ): boolean {
    if (!(config instanceof LeastRequestConfig)) return false;
    if (!endpoints.ok) {
      if (this.children.length === 0)
        this.setState(ConnectivityState.TRANSIENT_FAILURE, new experimental.UnavailablePicker(endpoints.error), endpoints.error.details);
      return true;
    }
    const list = endpoints.value;
    const named = list.map(experimental.endpointToString);
    if (sameEndpoints(this.children, named)) {
      // A resolver that answers a re-resolution with the same instances (consul:// does, after a lost
      // connection): new children would forget why their connections failed ("Last error: null").
      this.publish();
      return true;
    }
    const keys = new Set(named);
    for (const key of this.open.keys()) if (!keys.has(key)) this.open.delete(key);
    this.children.forEach((c) => c.destroy());
    this.updatesPaused = true;
    this.children = list.map((e) => new experimental.LeafLoadBalancer(e, this.childHelper, options, note));
    this.children.forEach((c) => c.startConnecting());
    this.updatesPaused = false;
    if (list.length === 0) {
      const message = `no addresses resolved: ${note}`;
      this.setState(ConnectivityState.TRANSIENT_FAILURE, new experimental.UnavailablePicker({ details: message }), message);
      return true;
    }
    this.publish();
    return true;
  }

  exitIdle(): void {
    // Every child is kept connected (publish); there is nothing further to start.
  }

  resetBackoff(): void {
    // The children's pick_first balancers own the backoff.
  }

  destroy(): void {
    clearTimeout(this.firstWait);
    this.children.forEach((c) => c.destroy());
    this.children = [];
  }

  getTypeName(): string {
    return LEAST_REQUEST;
  }

  private openCalls(endpoint: Endpoint): OpenCalls {
    const key = experimental.endpointToString(endpoint);
    let open = this.open.get(key);
    if (!open)
      this.open.set(key, (open = { count: 0, refusedUntil: { interactive: 0, batch: 0 }, fullUntil: { interactive: 0, batch: 0 } }));
    return open;
  }

  private publish(): void {
    if (this.updatesPaused || this.children.length === 0) return;
    const inState = (s: ConnectivityState) => this.children.filter((c) => c.getConnectivityState() === s);
    const ready = inState(ConnectivityState.READY);
    if (ready.length > 0 && !this.servedReady && this.waitingForOthers()) {
      this.setState(ConnectivityState.CONNECTING, new experimental.QueuePicker(this), null);
    } else if (ready.length > 0) {
      this.servedReady = true;
      this.setState(
        ConnectivityState.READY,
        new LeastRequestPicker(
          ready.map((c) => ({ picker: c.getPicker(), open: this.openCalls(c.getEndpoint()) })),
          this.turn,
        ),
        null,
      );
    } else if (inState(ConnectivityState.CONNECTING).length > 0) {
      this.setState(ConnectivityState.CONNECTING, new experimental.QueuePicker(this), null);
    } else if (inState(ConnectivityState.TRANSIENT_FAILURE).length > 0) {
      const message = `least_request: no connection established; last error: ${this.lastError}`;
      this.setState(ConnectivityState.TRANSIENT_FAILURE, new experimental.UnavailablePicker({ details: message }), message);
    } else {
      this.setState(ConnectivityState.IDLE, new experimental.QueuePicker(this), null);
    }
    // Like round_robin, keep every instance connected, so that any may take the next call.
    for (const c of this.children) if (c.getConnectivityState() === ConnectivityState.IDLE) c.exitIdle();
  }

  /** Whether the first picker, an instance being ready, should wait for others still connecting; publish() again when it stops. */
  private waitingForOthers(): boolean {
    const connecting = (c: experimental.LeafLoadBalancer): boolean =>
      [ConnectivityState.CONNECTING, ConnectivityState.IDLE].includes(c.getConnectivityState());
    if (!this.children.some(connecting)) return false;
    const now = Date.now();
    this.firstWaitUntil ??= now + FIRST_CONNECT_GRACE_MS;
    if (now >= this.firstWaitUntil) return false;
    // Unreferenced: a client closed meanwhile must not be kept alive by it.
    this.firstWait ??= setTimeout(() => this.publish(), this.firstWaitUntil - now).unref();
    return true;
  }

  private setState(state: ConnectivityState, picker: Picker, error: string | null): void {
    this.state = state;
    this.helper.updateState(state, picker, error);
  }
}

/** Make `least_request` available to every channel of this process (once). */
export function registerLeastRequest(): void {
  if (!experimental.isLoadBalancerNameRegistered(LEAST_REQUEST)) {
    experimental.registerLoadBalancerType(LEAST_REQUEST, LeastRequestLoadBalancer, LeastRequestConfig);
  }
}
