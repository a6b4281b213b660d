import { describe, expect, it } from "vitest";
import { chooseMechanism, isLoopbackAddress } from "./auth-policy.js";

const both = ["SCRAM-SHA-1", "PLAIN"];

describe("isLoopbackAddress", () => {
  it.each(["127.0.0.1", "127.3.2.1", "::1", "[::1]", "::ffff:127.0.0.1", "localhost"])(
    "%s is loopback",
    (a) => {
      expect(isLoopbackAddress(a)).toBe(true);
    },
  );
  it.each(["10.0.0.1", "128.0.0.1", "::2", "fe80::1", "localhost.example.org", "", undefined])(
    "%s is not",
    (a) => {
      expect(isLoopbackAddress(a)).toBe(false);
    },
  );
});

describe("chooseMechanism (RELIABILITY S9)", () => {
  it("prefers PLAIN on loopback, even without TLS", () => {
    expect(
      chooseMechanism({ offered: both, secure: false, remoteAddress: "127.0.0.1", allowInsecure: false }),
    ).toEqual({ mechanism: "PLAIN" });
  });
  it("refuses plaintext outside loopback", () => {
    expect(
      chooseMechanism({ offered: both, secure: false, remoteAddress: "192.0.2.7", allowInsecure: false }),
    ).toMatchObject({
      refuse: "RELAIS_ERR_XMPP_INSECURE",
    });
  });
  it("prefers SCRAM over TLS outside loopback", () => {
    expect(
      chooseMechanism({ offered: both, secure: true, remoteAddress: "192.0.2.7", allowInsecure: false }),
    ).toEqual({ mechanism: "SCRAM-SHA-1" });
    expect(
      chooseMechanism({ offered: ["PLAIN"], secure: true, remoteAddress: "192.0.2.7", allowInsecure: false }),
    ).toEqual({ mechanism: "PLAIN" });
  });
  it("when plaintext is allowed explicitly, uses SCRAM and never PLAIN in the clear", () => {
    expect(
      chooseMechanism({ offered: both, secure: false, remoteAddress: "192.0.2.7", allowInsecure: true }),
    ).toEqual({ mechanism: "SCRAM-SHA-1" });
    expect(
      chooseMechanism({ offered: ["PLAIN"], secure: false, remoteAddress: "192.0.2.7", allowInsecure: true }),
    ).toMatchObject({
      refuse: "RELAIS_ERR_XMPP_AUTH_FAILED",
    });
  });
  it("an unknown peer address counts as remote", () => {
    expect(
      chooseMechanism({ offered: both, secure: false, remoteAddress: undefined, allowInsecure: false }),
    ).toMatchObject({
      refuse: "RELAIS_ERR_XMPP_INSECURE",
    });
  });
});
