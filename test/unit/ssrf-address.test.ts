/**
 * The page fetcher's SSRF guard without a network (src/tools/web/address-policy.ts and the URL
 * checks in guarded-request.ts): every address class in IPv4 and IPv6, IPv4-mapped, NAT64 and
 * 6to4 forms, the URL spellings of 127.0.0.1 that browsers accept (one decimal number, octal,
 * hex, short forms), `localhost` names (never sent to DNS), and the admin's allow-list.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AddressPolicy, classifyAddress } from "../../src/tools/web/address-policy.js";
import { PageFetchError } from "../../src/tools/web/errors.js";
import { checkUrl, resolveAllowed, type Resolver } from "../../src/tools/web/guarded-request.js";

describe("address classes", () => {
  const table: Array<[string, string | undefined]> = [
    ["127.0.0.1", "loopback"],
    ["127.255.1.2", "loopback"],
    ["::1", "loopback"],
    ["0:0:0:0:0:0:0:1", "loopback"],
    ["10.1.2.3", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["100.64.0.1", "shared"],
    ["100.127.255.254", "shared"],
    ["169.254.1.1", "link-local"],
    ["fe80::1", "link-local"],
    ["febf::1", "link-local"],
    ["fc00::1", "unique-local"],
    ["fd12:3456::1", "unique-local"],
    ["224.0.0.1", "multicast"],
    ["239.255.255.250", "multicast"],
    ["ff02::1", "multicast"],
    ["0.0.0.0", "unspecified"],
    ["0.1.2.3", "unspecified"],
    ["::", "unspecified"],
    ["169.254.169.254", "metadata"],
    ["169.254.170.2", "metadata"],
    ["100.100.100.200", "metadata"],
    ["fd00:ec2::254", "metadata"],
    ["192.0.2.1", "reserved"],
    ["198.18.0.1", "reserved"],
    ["240.0.0.1", "reserved"],
    ["255.255.255.255", "reserved"],
    ["2001:db8::1", "reserved"],
    ["fec0::1", "reserved"],
    // IPv4 inside IPv6: mapped (both spellings), NAT64, 6to4, IPv4-compatible.
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:7f00:1", "loopback"],
    ["::ffff:10.0.0.1", "private"],
    ["::ffff:a9fe:a9fe", "metadata"],
    ["64:ff9b::7f00:1", "loopback"],
    ["64:ff9b::192.168.0.1", "private"],
    ["2002:7f00:1::", "loopback"],
    ["2002:a9fe:a9fe::1", "metadata"],
    ["::127.0.0.1", "reserved"],
    // Brackets and zone ids as URLs and link-local APIs write them.
    ["[::1]", "loopback"],
    ["fe80::1%eth0", "link-local"],
    // Public addresses, including their neighbours.
    ["8.8.8.8", undefined],
    ["172.15.255.255", undefined],
    ["172.32.0.0", undefined],
    ["100.63.255.255", undefined],
    ["100.128.0.0", undefined],
    ["2606:4700::1111", undefined],
    ["::ffff:8.8.8.8", undefined],
    ["64:ff9b::808:808", undefined],
    // Not an address at all: never trusted.
    ["example.com", "reserved"],
  ];
  for (const [address, expected] of table) {
    it(`${address} is ${expected ?? "public"}`, () => assert.equal(classifyAddress(address), expected));
  }
});

describe("the allow-list", () => {
  it("by default only public addresses pass", () => {
    const policy = new AddressPolicy();
    assert.equal(policy.refusal("93.184.216.34"), undefined);
    assert.equal(policy.refusal("127.0.0.1"), "loopback");
    assert.equal(policy.refusal("::ffff:192.168.0.1"), "private");
  });

  it("true allows every special address except cloud metadata", () => {
    const policy = new AddressPolicy(true);
    for (const address of ["127.0.0.1", "10.0.0.1", "fd00::1", "fe80::1"])
      assert.equal(policy.refusal(address), undefined);
    assert.equal(policy.refusal("169.254.169.254"), "metadata");
    assert.equal(policy.refusal("fd00:ec2::254"), "metadata");
  });

  it("a CIDR list allows exactly what it covers, IPv4-mapped forms included, metadata only when listed", () => {
    const policy = new AddressPolicy(["127.0.0.1/32", "10.0.0.0/8", "fd00::/16", "169.254.169.254"]);
    assert.equal(policy.refusal("127.0.0.1"), undefined);
    assert.equal(policy.refusal("::ffff:127.0.0.1"), undefined);
    assert.equal(policy.refusal("127.0.0.2"), "loopback");
    assert.equal(policy.refusal("::1"), "loopback");
    assert.equal(policy.refusal("10.200.0.1"), undefined);
    assert.equal(policy.refusal("192.168.0.1"), "private");
    assert.equal(policy.refusal("fd00::5"), undefined);
    assert.equal(policy.refusal("fd01::5"), "unique-local");
    assert.equal(policy.refusal("169.254.169.254"), undefined);
    assert.equal(policy.refusal("169.254.1.1"), "link-local");
  });

  it("a malformed entry is refused when the policy is built", () => {
    assert.throws(() => new AddressPolicy(["localhost"]), /not an IP address or CIDR/);
    assert.throws(() => new AddressPolicy(["10.0.0.0/33"]), /bad prefix length/);
  });
});

/** A resolver that must not be called: literals and localhost names never reach DNS. */
const noDns: Resolver = async (hostname) => assert.fail(`DNS asked for ${hostname}`);

async function refusal(address: string, policy = new AddressPolicy(), resolve: Resolver = noDns) {
  const url = new URL(address);
  try {
    checkUrl(url);
    await resolveAllowed(url, policy, resolve);
  } catch (error) {
    assert.ok(error instanceof PageFetchError, String(error));
    return error.reason;
  }
  return undefined;
}

describe("URLs", () => {
  it("every spelling of a loopback or private address is refused before any connection", async () => {
    for (const address of [
      "http://127.0.0.1/",
      "http://2130706433/", // one decimal number
      "http://0x7f.1/", // hex and a short form
      "http://0x7f000001/",
      "http://017700000001/", // octal
      "http://0177.0.0.1/",
      "http://127.1/",
      "http://0/",
      "http://[::1]/",
      "http://[::ffff:127.0.0.1]/",
      "http://[0:0:0:0:0:ffff:7f00:1]/",
      "http://[::]/",
      "https://169.254.169.254/latest/meta-data/",
      "http://[fd00:ec2::254]/",
      "http://[64:ff9b::a9fe:a9fe]/",
      "http://3232235777/", // 192.168.1.1
      "http://localhost/",
      "http://LOCALHOST./",
      "http://app.localhost:8080/",
    ]) {
      assert.equal(await refusal(address), "address_not_allowed", address);
    }
  });

  it("only http(s), and no credentials in the URL", async () => {
    for (const address of [
      "file:///etc/passwd",
      "ftp://example.com/",
      "gopher://example.com/",
      "data:text/plain,hi",
    ]) {
      assert.equal(await refusal(address), "url_not_allowed", address);
    }
    assert.equal(await refusal("http://user:secret@example.com/"), "url_not_allowed");
    assert.equal(await refusal("http://user@example.com/"), "url_not_allowed");
  });

  it("names are judged by every address they resolve to", async () => {
    const resolveTo =
      (...addresses: string[]): Resolver =>
      async () =>
        addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
    assert.equal(await refusal("http://example.com/", undefined, resolveTo("93.184.216.34")), undefined);
    assert.equal(
      await refusal("http://example.com/", undefined, resolveTo("93.184.216.34", "10.0.0.1")),
      "address_not_allowed",
    );
    assert.equal(
      await refusal("http://example.com/", undefined, resolveTo("::ffff:127.0.0.1")),
      "address_not_allowed",
    );
    assert.equal(await refusal("http://example.com/", undefined, resolveTo()), "unreachable");
    const failing: Resolver = async () => {
      throw Object.assign(new Error("getaddrinfo ENOTFOUND"), { code: "ENOTFOUND" });
    };
    assert.equal(await refusal("http://nowhere.invalid/", undefined, failing), "unreachable");
  });

  it("localhost passes only when the admin allows both of its loopback addresses", async () => {
    assert.equal(
      await refusal("http://localhost/", new AddressPolicy(["127.0.0.1/32"])),
      "address_not_allowed",
    );
    assert.equal(
      await refusal("http://localhost/", new AddressPolicy(["127.0.0.0/8", "::1/128"])),
      undefined,
    );
  });
});
