// The admin panel's MCP servers tab: register a server (a stdio command or a streamable HTTP URL),
// switch it on and off, test the connection (its tools, or why it failed), set each tool's "ask
// first", delete it. The page says plainly that a stdio server is a command run on this machine.
import { useSignal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import { adminMcpApi, type NewMcpServer } from "../api/mcp.ts";
import type { AdminMcpServer } from "../api/types.ts";
import { t } from "../i18n/i18n.ts";
import { describeError } from "../state/chat.ts";
import { FormError } from "./form-error.tsx";

interface Draft {
  name: string;
  description: string;
  type: "stdio" | "http";
  command: string;
  args: string;
  env: string;
  url: string;
  headers: string;
}

const EMPTY: Draft = {
  name: "",
  description: "",
  type: "stdio",
  command: "",
  args: "",
  env: "",
  url: "",
  headers: "",
};

/** `KEY<separator>value` lines as a record; throws naming the first line that is not one. */
function pairs(text: string, separator: string, field: string): Record<string, string> {
  const result: Record<string, string> = {};
  text.split("\n").forEach((line, index) => {
    if (line.trim() === "") return;
    const at = line.indexOf(separator);
    if (at <= 0) throw new Error(t("mcpBadLine", { line: String(index + 1), field }));
    result[line.slice(0, at).trim()] = line.slice(at + separator.length).trim();
  });
  return result;
}

function toServer(draft: Draft): NewMcpServer {
  const transport: NewMcpServer["transport"] =
    draft.type === "stdio"
      ? {
          type: "stdio",
          command: draft.command.trim(),
          args: draft.args.split("\n").filter((line) => line.trim() !== ""),
          env: pairs(draft.env, "=", t("mcpEnv")),
        }
      : { type: "http", url: draft.url.trim(), headers: pairs(draft.headers, ":", t("mcpHeaders")) };
  return { name: draft.name.trim(), description: draft.description.trim(), transport };
}

export function McpServersTab() {
  const servers = useSignal<AdminMcpServer[]>([]);
  const draft = useSignal<Draft>(EMPTY);
  const error = useSignal<string | null>(null);
  const status = useSignal<string | null>(null);
  const refresh = () =>
    adminMcpApi.list().then(
      (answer) => (servers.value = answer.servers),
      (failure) => (error.value = describeError(failure)),
    );
  useEffect(() => void refresh(), []);
  /** Runs a change, then says how it went and shows the list as it is now. */
  const act = (change: () => Promise<string | undefined>) => {
    error.value = null;
    status.value = null;
    change().then(
      (done) => {
        if (done) status.value = done;
        void refresh();
      },
      (failure) => {
        error.value = describeError(failure);
        void refresh();
      },
    );
  };
  const edit = (changes: Partial<Draft>) => (draft.value = { ...draft.value, ...changes });

  return (
    <>
      <p>{t("mcpIntro")}</p>
      <p>{t("mcpAskFirstNote")}</p>
      <h2>{t("mcpNewServer")}</h2>
      <form
        class="admin-key-form mcp-form"
        onSubmit={(event) => {
          event.preventDefault();
          act(async () => {
            const created = await adminMcpApi.create(toServer(draft.value));
            draft.value = EMPTY;
            return t("mcpRegistered", { name: created.name });
          });
        }}
      >
        <label>
          {t("mcpName")}
          <input
            required
            autocomplete="off"
            pattern="[A-Za-z0-9_\-]{1,32}"
            aria-describedby="mcp-name-hint"
            value={draft.value.name}
            onInput={(event) => edit({ name: event.currentTarget.value })}
          />
        </label>
        <span id="mcp-name-hint" class="meta">
          {t("mcpNameHint")}
        </span>
        <label>
          {t("mcpDescription")}
          <input
            autocomplete="off"
            value={draft.value.description}
            onInput={(event) => edit({ description: event.currentTarget.value })}
          />
        </label>
        <label>
          {t("mcpTransport")}
          <select
            value={draft.value.type}
            onChange={(event) => edit({ type: event.currentTarget.value as Draft["type"] })}
          >
            <option value="stdio">{t("mcpStdio")}</option>
            <option value="http">{t("mcpHttp")}</option>
          </select>
        </label>
        {draft.value.type === "stdio" ? (
          <>
            <label>
              {t("mcpCommand")}
              <input
                required
                autocomplete="off"
                spellcheck={false}
                value={draft.value.command}
                onInput={(event) => edit({ command: event.currentTarget.value })}
              />
            </label>
            <label>
              {t("mcpArgs")}
              <textarea
                rows={3}
                spellcheck={false}
                value={draft.value.args}
                onInput={(event) => edit({ args: event.currentTarget.value })}
              />
            </label>
            <label>
              {t("mcpEnv")}
              <textarea
                rows={2}
                spellcheck={false}
                value={draft.value.env}
                onInput={(event) => edit({ env: event.currentTarget.value })}
              />
            </label>
          </>
        ) : (
          <>
            <label>
              {t("mcpUrl")}
              <input
                required
                type="url"
                autocomplete="off"
                value={draft.value.url}
                onInput={(event) => edit({ url: event.currentTarget.value })}
              />
            </label>
            <label>
              {t("mcpHeaders")}
              <textarea
                rows={2}
                spellcheck={false}
                value={draft.value.headers}
                onInput={(event) => edit({ headers: event.currentTarget.value })}
              />
            </label>
          </>
        )}
        <span class="meta">{t("mcpSecretsNote")}</span>
        <button type="submit" class="primary">
          {t("mcpRegister")}
        </button>
      </form>
      <FormError message={error.value} />
      {status.value && (
        <p class="admin-status" role="status">
          {status.value}
        </p>
      )}
      <h2>{t("mcpServers")}</h2>
      {servers.value.length === 0 && <p>{t("mcpNone")}</p>}
      {servers.value.map((server) => (
        <ServerCard
          key={server.id}
          server={server}
          act={act}
          onTested={refresh}
          show={(shown) =>
            (servers.value = servers.value.map((item) => (item.id === shown.id ? shown : item)))
          }
        />
      ))}
    </>
  );
}

/** One server: `show` puts a change on screen at once, before `act` sends it. */
function ServerCard({
  server,
  act,
  onTested,
  show,
}: {
  server: AdminMcpServer;
  act: (change: () => Promise<string | undefined>) => void;
  onTested: () => void;
  show: (server: AdminMcpServer) => void;
}) {
  const test = useSignal<{ ok: boolean; text: string } | null>(null);
  const testing = useSignal(false);
  const where =
    server.transport.type === "stdio"
      ? [server.transport.command, ...server.transport.args].join(" ")
      : server.transport.url;
  const headingId = `mcp-server-${server.id}`;
  return (
    <section class="mcp-server" data-server={server.name} aria-labelledby={headingId}>
      <h3 id={headingId}>{server.name}</h3>
      {server.description && <p>{server.description}</p>}
      <p>
        <code class="mcp-where">{where}</code>
      </p>
      <div class="admin-actions">
        <label>
          <input
            type="checkbox"
            checked={server.enabled}
            onChange={(event) => {
              const enabled = event.currentTarget.checked;
              show({ ...server, enabled });
              act(async () => {
                await adminMcpApi.update(server.id, { enabled });
                return undefined;
              });
            }}
          />{" "}
          {t("mcpEnabledOf", { name: server.name })}
        </label>
        <button
          type="button"
          class="secondary"
          disabled={testing.value}
          aria-label={t("mcpTestOf", { name: server.name })}
          onClick={() => {
            testing.value = true;
            test.value = null;
            adminMcpApi
              .test(server.id)
              .then(
                (result) =>
                  (test.value = result.ok
                    ? {
                        ok: true,
                        text: t("mcpTestOk", { name: server.name, count: result.server.tools.length }),
                      }
                    : { ok: false, text: t("mcpTestFailed", { name: server.name, error: result.error }) }),
                (failure) =>
                  (test.value = {
                    ok: false,
                    text: t("mcpTestFailed", { name: server.name, error: describeError(failure) }),
                  }),
              )
              .finally(() => {
                testing.value = false;
                onTested();
              });
          }}
        >
          {t("mcpTest")}
        </button>
        <button
          type="button"
          class="secondary"
          aria-label={t("mcpDeleteOf", { name: server.name })}
          onClick={() => {
            if (!confirm(t("mcpConfirmDelete", { name: server.name }))) return;
            act(async () => {
              await adminMcpApi.remove(server.id);
              return t("mcpDeleted", { name: server.name });
            });
          }}
        >
          {t("delete")}
        </button>
      </div>
      {testing.value && (
        <p class="admin-status" role="status">
          {t("mcpTesting", { name: server.name })}
        </p>
      )}
      {test.value &&
        (test.value.ok ? (
          <p class="admin-status" role="status">
            {test.value.text}
          </p>
        ) : (
          <FormError message={test.value.text} />
        ))}
      {server.tools.length === 0 ? (
        <p class="meta">{t("mcpNoTools")}</p>
      ) : (
        <div
          class="table-wrap"
          tabIndex={0}
          role="region"
          aria-label={t("mcpToolsOf", { name: server.name })}
        >
          <table class="admin-table">
            <thead>
              <tr>
                <th scope="col">{t("mcpTool")}</th>
                <th scope="col">{t("mcpDescription")}</th>
                <th scope="col">{t("mcpAskFirst")}</th>
              </tr>
            </thead>
            <tbody>
              {server.tools.map((tool) => (
                <tr key={tool.name} data-tool={tool.name}>
                  <th scope="row">
                    <code>{tool.name}</code>
                  </th>
                  <td>{tool.description}</td>
                  <td>
                    <input
                      type="checkbox"
                      checked={tool.askFirst}
                      aria-label={t("mcpAskFirstOf", { tool: tool.name })}
                      onChange={(event) => {
                        const askFirst = event.currentTarget.checked;
                        const toolSettings = { ...server.toolSettings, [tool.name]: { askFirst } };
                        show({
                          ...server,
                          toolSettings,
                          tools: server.tools.map((item) =>
                            item.name === tool.name ? { ...item, askFirst } : item,
                          ),
                        });
                        act(async () => {
                          await adminMcpApi.update(server.id, { toolSettings });
                          return undefined;
                        });
                      }}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
