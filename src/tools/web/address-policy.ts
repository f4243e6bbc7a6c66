/**
 * Which addresses the page fetcher may connect to: the SSRF guard's rules. A URL a model or a
 * search result hands us must not reach this machine, the LAN, or a cloud metadata service, so
 * every address a host resolves to is classified here before any connection is made.
 * Classification uses node:net's BlockList (which also matches IPv4-mapped IPv6 forms of IPv4
 * ranges); addresses that embed an IPv4 address (NAT64, 6to4) are judged by the address inside.
 */
import { BlockList, isIP } from "node:net";

/** Why an address is not a public internet address. */
export type AddressClass =
  | "loopback"
  | "private"
  | "shared" // carrier-grade NAT, 100.64.0.0/10
  | "link-local"
  | "unique-local"
  | "multicast"
  | "unspecified"
  | "metadata"
  | "reserved";

type Family = "ipv4" | "ipv6";

/** Cloud metadata services. Most sit inside a range below too; they are named so `allowPrivate: true` still refuses them. */
const METADATA: ReadonlyArray<[string, Family]> = [
  ["169.254.169.254", "ipv4"], // AWS, GCP, Azure, OpenStack
  ["169.254.170.2", "ipv4"], // AWS ECS task metadata
  ["100.100.100.200", "ipv4"], // Alibaba Cloud
  ["fd00:ec2::254", "ipv6"], // AWS over IPv6
];

/** Ranges per class, most specific class first (loopback before reserved). */
const RANGES: ReadonlyArray<[AddressClass, ReadonlyArray<[string, number, Family]>]> = [
  [
    "unspecified",
    [
      ["0.0.0.0", 8, "ipv4"],
      ["::", 128, "ipv6"],
    ],
  ],
  [
    "loopback",
    [
      ["127.0.0.0", 8, "ipv4"],
      ["::1", 128, "ipv6"],
    ],
  ],
  [
    "private",
    [
      ["10.0.0.0", 8, "ipv4"],
      ["172.16.0.0", 12, "ipv4"],
      ["192.168.0.0", 16, "ipv4"],
    ],
  ],
  ["shared", [["100.64.0.0", 10, "ipv4"]]],
  [
    "link-local",
    [
      ["169.254.0.0", 16, "ipv4"],
      ["fe80::", 10, "ipv6"],
    ],
  ],
  ["unique-local", [["fc00::", 7, "ipv6"]]],
  [
    "multicast",
    [
      ["224.0.0.0", 4, "ipv4"],
      ["ff00::", 8, "ipv6"],
    ],
  ],
  [
    "reserved",
    [
      ["192.0.0.0", 24, "ipv4"], // IETF protocol assignments
      ["192.0.2.0", 24, "ipv4"], // documentation
      ["198.18.0.0", 15, "ipv4"], // benchmarking
      ["198.51.100.0", 24, "ipv4"], // documentation
      ["203.0.113.0", 24, "ipv4"], // documentation
      ["240.0.0.0", 4, "ipv4"], // future use and 255.255.255.255
      ["::", 96, "ipv6"], // IPv4-compatible (deprecated)
      ["100::", 64, "ipv6"], // discard
      ["2001:db8::", 32, "ipv6"], // documentation
      ["2001::", 32, "ipv6"], // Teredo: the IPv4 address inside is obfuscated
      ["fec0::", 10, "ipv6"], // site-local (deprecated)
    ],
  ],
];

function blockList(entries: ReadonlyArray<[string, number, Family]>): BlockList {
  const list = new BlockList();
  for (const [network, prefix, family] of entries) list.addSubnet(network, prefix, family);
  return list;
}

const metadataList = new BlockList();
for (const [address, family] of METADATA) metadataList.addAddress(address, family);
const classLists = RANGES.map(([name, entries]) => [name, blockList(entries)] as const);

/** The 32-bit IPv4 address inside a NAT64 (64:ff9b::/96) or 6to4 (2002::/16) address, dotted. */
function embeddedIpv4(address: string): string | undefined {
  const groups = expandIpv6(address);
  if (groups === undefined) return undefined;
  const dotted = (high: number, low: number) => `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
  const isNat64 = groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((g) => g === 0);
  if (isNat64) return dotted(groups[6]!, groups[7]!);
  if (groups[0] === 0x2002) return dotted(groups[1]!, groups[2]!);
  return undefined;
}

/** The eight 16-bit groups of an IPv6 address (a trailing dotted IPv4 part included). */
function expandIpv6(address: string): number[] | undefined {
  let text = address.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split("::") as [string, string | undefined];
  const part = (value: string) => (value === "" ? [] : value.split(":").map((group) => parseInt(group, 16)));
  const front = part(head);
  const back = tail === undefined ? [] : part(tail);
  const zeros = 8 - front.length - back.length;
  if (zeros < 0 || (tail === undefined && zeros !== 0)) return undefined;
  return [...front, ...Array<number>(zeros).fill(0), ...back];
}

function familyOf(address: string): Family | undefined {
  const version = isIP(address);
  return version === 4 ? "ipv4" : version === 6 ? "ipv6" : undefined;
}

/**
 * The class of an IP address, or undefined for a public one. IPv4-mapped (`::ffff:127.0.0.1`),
 * NAT64 and 6to4 forms get the class of the IPv4 address they carry. A string that is not an IP
 * address is "reserved": callers resolve names first.
 */
export function classifyAddress(address: string): AddressClass | undefined {
  const bare = address.replace(/^\[|\]$/g, "").replace(/%.*$/, ""); // brackets and zone ids
  const family = familyOf(bare);
  if (family === undefined) return "reserved";
  if (family === "ipv6") {
    const inner = embeddedIpv4(bare);
    if (inner !== undefined) return classifyAddress(inner);
  }
  if (metadataList.check(bare, family)) return "metadata";
  for (const [name, list] of classLists) if (list.check(bare, family)) return name;
  return undefined;
}

/**
 * The admin's exception to the guard. `false` (the default): only public addresses. `true`: any
 * address except cloud metadata services. A list of CIDRs (`"127.0.0.1/32"`, `"10.0.0.0/8"`,
 * `"fd00::/8"`) or bare addresses: public addresses plus exactly those, metadata included if listed.
 */
export type AllowPrivate = boolean | readonly string[];

/** Decides, for each resolved address, whether the fetcher may connect to it. */
export class AddressPolicy {
  readonly #allowAll: boolean;
  readonly #allowed = new BlockList();

  constructor(allowPrivate: AllowPrivate = false) {
    this.#allowAll = allowPrivate === true;
    if (Array.isArray(allowPrivate)) {
      for (const entry of allowPrivate as readonly string[]) {
        const [network = "", prefixText] = entry.trim().split("/");
        const family = familyOf(network);
        if (family === undefined)
          throw new TypeError(`allowPrivate: '${entry}' is not an IP address or CIDR`);
        const maxPrefix = family === "ipv4" ? 32 : 128;
        const prefix = prefixText === undefined ? maxPrefix : Number(prefixText);
        if (!Number.isInteger(prefix) || prefix < 0 || prefix > maxPrefix) {
          throw new TypeError(`allowPrivate: '${entry}' has a bad prefix length`);
        }
        this.#allowed.addSubnet(network, prefix, family);
      }
    }
  }

  /** Why `address` is refused (its class), or undefined when the fetcher may connect to it. */
  refusal(address: string): AddressClass | undefined {
    const found = classifyAddress(address);
    if (found === undefined) return undefined;
    const bare = address.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
    const family = familyOf(bare);
    if (family !== undefined && this.#allowed.check(bare, family)) return undefined;
    if (this.#allowAll && found !== "metadata") return undefined;
    return found;
  }
}
