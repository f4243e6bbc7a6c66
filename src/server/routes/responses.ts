import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Principal } from "../../auth/authenticator.js";
import type { RequestMeter } from "../../auth/request-meter.js";
import type { Engine } from "../../core/engine.js";
import { InvalidRequestError, QiusuoError } from "../../core/errors.js";
import { withKeepAlive } from "../../protocol/keep-alive.js";
import { toResponsesError } from "../../protocol/responses/errors.js";
import type { Item } from "../../protocol/responses/items.js";
import { parseResponseRequest, toChatRequest } from "../../protocol/responses/request.js";
import {
  collectResponse,
  newResponse,
  ResponseEventEncoder,
  streamResponse,
  type ResponseObject,
} from "../../protocol/responses/response.js";
import type { ResponseOwner } from "../../store/responses.js";
import type { Store } from "../../store/store.js";
import type { ApiGate } from "../api-gate.js";
import { API_BODY_LIMIT_BYTES, apiBodyLimit } from "../limits.js";
import {
  disconnectSignal,
  fromFastifyError,
  sendEventStream,
  sendJsonWithBlankLines,
} from "../reply-helpers.js";

export interface ResponsesRouteOptions {
  engine: Engine;
  gate: ApiGate;
  store: Store;
  keepAliveMs: number;
}

type WithId = { Params: { id: string } };
type InputItemsQuery = WithId & { Querystring: { limit?: string; order?: string; after?: string } };

/**
 * OpenAI's Responses API at `/v1/responses` and `/responses`: create (streaming or not), and
 * retrieve, delete and list the input items of a stored response. Stored responses belong to the
 * principal that made them (an API key, or the local user without one); anyone else's id is a
 * 404, as an unknown one. The routes have their own scope, so bad values are 400s as OpenAI's.
 */
export function registerResponsesRoutes(app: FastifyInstance, options: ResponsesRouteOptions): void {
  const { engine, gate, store, keepAliveMs } = options;
  void app.register(async (scope) => {
    const bodyLimit = apiBodyLimit(scope);
    scope.setErrorHandler(async (error: FastifyError | QiusuoError, request, reply) => {
      const wire = toResponsesError(fromFastifyError(error));
      if (wire.error.kind === "internal")
        request.log.error({ err: wire.error.cause ?? error }, "request failed");
      await gate.settleFailed(request, wire.error.code);
      return reply.code(wire.status).headers(wire.headers).send(wire.body);
    });
    for (const prefix of ["", "/v1"]) {
      scope.post(`${prefix}/responses`, { bodyLimit }, async (request, reply) => {
        const { principal, meter } = await gate.admit(request, reply);
        return create({ engine, store, keepAliveMs }, principal, meter, request, reply);
      });
      scope.get<WithId>(`${prefix}/responses/:id`, async (request) => {
        const owner = ownerOf(await gate.principal(request));
        return (await findStored(store, owner, request.params.id)).response;
      });
      scope.delete<WithId>(`${prefix}/responses/:id`, async (request) => {
        const owner = ownerOf(await gate.principal(request));
        const { id } = request.params;
        if (!(await store.responses.delete(owner, id))) throw responseNotFound(id, null);
        return { id, object: "response", deleted: true };
      });
      scope.get<InputItemsQuery>(`${prefix}/responses/:id/input_items`, async (request) => {
        const owner = ownerOf(await gate.principal(request));
        const stored = await findStored(store, owner, request.params.id);
        return inputItemsPage(stored.inputItems as Item[], request.query);
      });
    }
  });
}

async function create(
  { engine, store, keepAliveMs }: Omit<ResponsesRouteOptions, "gate">,
  principal: Principal,
  meter: RequestMeter,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<unknown> {
  const parsed = await parseResponseRequest(request.body);
  const owner = ownerOf(principal);
  const items: Item[] = [...parsed.input];
  if (parsed.previousResponseId !== undefined) {
    const previous = await findStored(store, owner, parsed.previousResponseId, "previous_response_id");
    const output = (previous.response as ResponseObject).output;
    items.unshift(...(previous.inputItems as Item[]), ...output);
  }
  if (parsed.store) checkStoredSize(items);
  const chatRequest = toChatRequest(parsed, items);
  const signal = disconnectSignal(reply);
  const events = withKeepAlive(
    meter.watch(chatRequest.model, await engine.chat(chatRequest, signal)),
    keepAliveMs,
  );
  const encoder = new ResponseEventEncoder(newResponse(parsed));
  // The reply has been generated; a response that could not be stored is logged, not failed.
  const save = async (response: ResponseObject) => {
    if (!parsed.store) return;
    await store.responses
      .save(owner, { id: response.id, response, inputItems: items })
      .catch((error: unknown) => request.log.error({ err: error }, "response was not stored"));
  };
  if (!parsed.stream) {
    return sendJsonWithBlankLines(
      reply,
      async (onKeepAlive) => {
        const response = await collectResponse(encoder, events, onKeepAlive);
        await save(response);
        return response;
      },
      (error) => toResponsesError(error).body,
    );
  }
  return sendEventStream(request, reply, streamResponse(encoder, events, save), signal);
}

function ownerOf(principal: Principal): ResponseOwner {
  return { userId: principal.user.id, apiKeyId: principal.apiKey?.id ?? null };
}

async function findStored(store: Store, owner: ResponseOwner, id: string, param: string | null = null) {
  const stored = await store.responses.find(owner, id);
  if (!stored) throw responseNotFound(id, param);
  return stored;
}

function responseNotFound(id: string, param: string | null): QiusuoError {
  const what = param === "previous_response_id" ? "Previous response" : "Response";
  return new QiusuoError("not_found", "response_not_found", `${what} with id '${id}' not found.`, { param });
}

/**
 * A stored response holds its whole conversation, so a chain of them grows with each turn; it
 * may hold at most as much input as one request body may (8 MiB).
 */
function checkStoredSize(items: readonly Item[]): void {
  const bytes = Buffer.byteLength(JSON.stringify(items));
  if (bytes > API_BODY_LIMIT_BYTES) {
    throw new InvalidRequestError(
      "conversation_too_large",
      `A stored response may hold at most ${API_BODY_LIMIT_BYTES} bytes of input items; this one ` +
        `would hold ${bytes}. Send \`store: false\`, or start anew with the input you need.`,
      "input",
    );
  }
}

/** A page of input items, as OpenAI lists them: newest first unless `order=asc`, after an item id. */
function inputItemsPage(items: Item[], query: InputItemsQuery["Querystring"]) {
  const limit = query.limit === undefined ? 20 : Number(query.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
    throw new InvalidRequestError("invalid_value", "`limit` must be an integer between 1 and 100.", "limit");
  }
  if (query.order !== undefined && query.order !== "asc" && query.order !== "desc") {
    throw new InvalidRequestError("invalid_value", "`order` must be 'asc' or 'desc'.", "order");
  }
  const ordered = query.order === "asc" ? items : [...items].reverse();
  const start = query.after === undefined ? 0 : ordered.findIndex((item) => item.id === query.after) + 1;
  if (query.after !== undefined && start === 0) {
    throw new InvalidRequestError("invalid_value", `\`after\` names no item of this response.`, "after");
  }
  const data = ordered.slice(start, start + limit);
  return {
    object: "list",
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more: start + limit < ordered.length,
  };
}
