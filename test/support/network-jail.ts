// A command run in a network namespace with no route (`unshare -n`: nothing but loopback, which is
// brought up) and watched two ways: the egress guard preload (test/support/egress-guard.cjs, in
// NODE_OPTIONS so child node processes and worker threads carry it), which sees what the JavaScript
// tried, and `strace -f` on connect/sendto/sendmsg, which also sees native code (llama.cpp, glibc's
// own DNS queries). Clients outside reach a server inside through a tunnel: a TCP port on this side
// -> a unix socket (a file, and files cross network namespaces) -> a relay inside -> the server on
// the namespace's loopback. Chromium runs inside through `nsenter`, driven by playwright over pipes.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const EGRESS_GUARD = fileURLToPath(new URL("./egress-guard.cjs", import.meta.url));

/** Why no network namespace can be made here (not root, no CAP_SYS_ADMIN, no unshare or ip), or undefined. */
export function namespaceProblem(): string | undefined {
  const result = spawnSync("unshare", ["-n", "--", "sh", "-c", "ip link set lo up"], {
    encoding: "utf8",
    timeout: 10_000,
  });
  if (result.error) return `unshare: ${result.error.message}`;
  if (result.status !== 0) return `\`unshare -n\` failed (${result.status}): ${result.stderr.trim()}`;
  return undefined;
}

export const STRACE_AVAILABLE = spawnSync("strace", ["-V"]).status === 0;

/** One attempt the guard recorded (see egress-guard.cjs). */
export interface GuardRecord {
  pid: number;
  thread: number;
  /** The call that was made: `net.Socket.connect`, `fetch`, `dns.lookup`, `dgram.send`... */
  api: string;
  host: string;
  port?: number;
  url?: string;
  stack: string[];
}

/** A connect/sendto/sendmsg to an IPv4 or IPv6 address, as strace printed it. */
export interface SocketCall {
  pid: number;
  syscall: string;
  address: string;
  port: number;
  line: string;
}

export interface JailedProcess {
  child: ChildProcess;
  /** `/proc/PID/ns/net`: the namespace, for `nsenter --net=`. */
  netns: string;
  /** Everything it printed so far, stdout and stderr together. */
  output: () => string;
  /** What the guard recorded so far. */
  guardRecords: () => GuardRecord[];
  /** strace's calls to IP addresses so far, loopback included (none without strace). */
  socketCalls: () => SocketCall[];
  /** SIGTERM to the whole process group, then SIGKILL if it is not gone in 10 s. */
  stop: () => Promise<void>;
}

/**
 * Runs `command` in a new network namespace under the guard (and strace when there is one),
 * its files in `dir`. The process leads its own group, so stop() reaches everything it started.
 */
export function startJailed(
  command: string[],
  options: { dir: string; env: Record<string, string | undefined> },
): JailedProcess {
  const guardLog = path.join(options.dir, "egress-guard.jsonl");
  const straceLog = path.join(options.dir, "strace.txt");
  const strace = STRACE_AVAILABLE
    ? ["strace", "-f", "-qq", "--seccomp-bpf", "-e", "trace=connect,sendto,sendmsg", "-e", "signal=none"]
    : [];
  const child = spawn(
    "unshare",
    [
      "-n",
      "--",
      "sh",
      "-c",
      'ip link set lo up && exec "$@"',
      "sh",
      ...(STRACE_AVAILABLE ? [...strace, "-o", straceLog, "--"] : []),
      ...command,
    ],
    {
      env: { ...options.env, EGRESS_GUARD_LOG: guardLog, NODE_OPTIONS: `--require=${EGRESS_GUARD}` },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    },
  );
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    child,
    netns: `/proc/${child.pid}/ns/net`,
    output: () => output,
    guardRecords: () => readGuardLog(guardLog),
    socketCalls() {
      if (!STRACE_AVAILABLE) return [];
      // strace opens its log before it starts the command: no log, no watcher, no proof.
      if (!existsSync(straceLog)) throw new Error(`strace wrote no ${straceLog}:\n${output}`);
      return parseStrace(readFileSync(straceLog, "utf8"));
    },
    async stop() {
      const group = -child.pid!;
      signalGroup(group, "SIGTERM");
      const deadline = Date.now() + 10_000;
      await exited;
      while (groupAlive(group) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      signalGroup(group, "SIGKILL");
    },
  };
}

function signalGroup(group: number, signal: NodeJS.Signals): void {
  try {
    process.kill(group, signal);
  } catch {
    // Already gone.
  }
}

function groupAlive(group: number): boolean {
  try {
    process.kill(group, 0);
    return true;
  } catch {
    return false;
  }
}

export function readGuardLog(file: string): GuardRecord[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as GuardRecord);
}

/**
 * The IPv4/IPv6 destinations in strace's output (`-f -o`: each line starts with the pid; a call
 * cut by another thread's is printed `<unfinished ...>` with its arguments, which is what counts).
 */
export function parseStrace(text: string): SocketCall[] {
  const calls: SocketCall[] = [];
  for (const line of text.split("\n")) {
    const call = /^(\d+)\s+(connect|sendto|sendmsg)\(/.exec(line);
    if (!call) continue;
    const v4 = /sa_family=AF_INET, sin_port=htons\((\d+)\), sin_addr=inet_addr\("([^"]+)"\)/.exec(line);
    const v6 = /sa_family=AF_INET6, sin6_port=htons\((\d+)\),.*?inet_pton\(AF_INET6, "([^"]+)"/.exec(line);
    const found = v4 ?? v6;
    if (!found) continue;
    calls.push({ pid: Number(call[1]), syscall: call[2]!, port: Number(found[1]), address: found[2]!, line });
  }
  return calls;
}

/** An address that stays on this machine: 127/8, ::1, IPv4-mapped 127/8, or the unspecified address. */
export function isLoopbackAddress(address: string): boolean {
  return (
    address.startsWith("127.") ||
    address === "0.0.0.0" ||
    address === "::1" ||
    address === "::" ||
    /^::ffff:127\./i.test(address)
  );
}

/** strace's calls that would leave the machine: to any non-loopback address, or to a DNS port anywhere. */
export function outboundCalls(calls: SocketCall[]): SocketCall[] {
  return calls.filter((call) => !isLoopbackAddress(call.address) || call.port === 53);
}

export interface Tunnel {
  /** `http://127.0.0.1:PORT` on this side. */
  url: string;
  close: () => Promise<void>;
}

const RELAY = `
const net = require("node:net");
const [socketPath, port] = process.argv.slice(1);
net.createServer((client) => {
  const server = net.connect(Number(port), "127.0.0.1");
  client.pipe(server).pipe(client);
  client.on("error", () => server.destroy());
  server.on("error", () => client.destroy());
}).listen(socketPath, () => console.log("relay ready"));
`;

/** Opens a tunnel from a TCP port here to `port` on the loopback of the namespace `netns`. */
export async function openTunnel(netns: string, port: number, dir: string): Promise<Tunnel> {
  const socketPath = path.join(dir, "tunnel.sock");
  const relay = spawn(
    "nsenter",
    [`--net=${netns}`, "--", process.execPath, "-e", RELAY, socketPath, String(port)],
    {
      stdio: ["ignore", "pipe", "pipe"],
      env: { PATH: process.env.PATH },
    },
  );
  let relayOutput = "";
  relay.stderr.on("data", (chunk) => (relayOutput += chunk));
  await new Promise<void>((resolve, reject) => {
    relay.stdout.once("data", () => resolve());
    relay.once("exit", (code) => reject(new Error(`the relay exited with ${code}: ${relayOutput}`)));
  });
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const inside = net.connect(socketPath);
    for (const socket of [client, inside]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    }
    client.pipe(inside).pipe(client);
    client.on("error", () => inside.destroy());
    inside.on("error", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port: outerPort } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${outerPort}`,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
      if (relay.exitCode === null && relay.signalCode === null) {
        const gone = new Promise((resolve) => relay.once("exit", resolve));
        relay.kill("SIGTERM");
        await gone;
      }
    },
  };
}

/**
 * An executable that runs `chromium` inside the namespace `netns`, for playwright's
 * `executablePath` (it talks to the browser over inherited pipes, which nsenter keeps).
 */
export function chromiumInNamespace(chromium: string, netns: string, dir: string): string {
  const wrapper = path.join(dir, "chromium-in-namespace.sh");
  writeFileSync(wrapper, `#!/bin/sh\nexec nsenter --net=${netns} -- ${chromium} "$@"\n`);
  chmodSync(wrapper, 0o755);
  return wrapper;
}
