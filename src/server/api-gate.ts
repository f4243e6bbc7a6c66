import type { FastifyReply, FastifyRequest } from "fastify";
import type { Authenticator, Principal } from "../auth/authenticator.js";
import { RequestMeter } from "../auth/request-meter.js";
import type { Store } from "../store/store.js";

/**
 * The door of the API routes: who the request acts for (401 without a valid key in accounts
 * mode), whether a generating request may run (402/429 from its key's quota and limits), and the
 * meter that books it. Requests that fail after admission are booked by `settleFailed`, which the
 * error handlers call.
 */
export class ApiGate {
  private readonly meters = new WeakMap<FastifyRequest, RequestMeter>();

  constructor(
    private readonly auth: Authenticator,
    private readonly store: Store,
  ) {}

  /** For requests that only read (models, balance). */
  principal(request: FastifyRequest): Promise<Principal> {
    return this.auth.apiPrincipal(request.headers);
  }

  /** For requests that generate: authenticates, admits, and returns the request's meter. */
  async admit(
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<{ principal: Principal; meter: RequestMeter }> {
    const principal = await this.auth.apiPrincipal(request.headers);
    const admissionId = await this.auth.admit(principal);
    const meter = new RequestMeter(this.store, principal, admissionId, (error) =>
      request.log.error({ err: error }, "usage was not recorded"),
    );
    this.meters.set(request, meter);
    // A client that leaves before the engine started still ends its admission.
    reply.raw.once("close", () => void meter.settle("client_closed"));
    return { principal, meter };
  }

  /** Books a request that ended in an error before or while generating. */
  async settleFailed(request: FastifyRequest, code: string): Promise<void> {
    await this.meters.get(request)?.settle(code);
  }
}
