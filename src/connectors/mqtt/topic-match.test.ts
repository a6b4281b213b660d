import { describe, expect, it } from "vitest";
import { matchTopic } from "./topic-match.js";

describe("MQTT topic filters (MQTT 3.1.1 §4.7)", () => {
  it("matches exact topics and + levels with captures", () => {
    expect(matchTopic("a/b", "a/b")).toEqual({ topic: "a/b" });
    expect(matchTopic("a/b", "a/c")).toBeNull();
    expect(matchTopic("a/+/c/+", "a/x/c/y")).toEqual({ topic: "a/x/c/y", "1": "x", "2": "y" });
    expect(matchTopic("a/+", "a/x/y")).toBeNull();
    expect(matchTopic("a/+", "a")).toBeNull();
    expect(matchTopic("+", "")).toEqual({ topic: "", "1": "" });
  });
  it("matches # for the rest, including the parent level", () => {
    expect(matchTopic("a/#", "a/b/c")).toEqual({ topic: "a/b/c", "#": "b/c" });
    expect(matchTopic("a/#", "a")).toEqual({ topic: "a", "#": "" });
    expect(matchTopic("#", "x/y")).toEqual({ topic: "x/y", "#": "x/y" });
    expect(matchTopic("a/#", "b/c")).toBeNull();
  });
  it("does not match $ topics with a leading wildcard (§4.7.2)", () => {
    expect(matchTopic("#", "$SYS/x")).toBeNull();
    expect(matchTopic("+/x", "$SYS/x")).toBeNull();
    expect(matchTopic("$SYS/#", "$SYS/x")).toEqual({ topic: "$SYS/x", "#": "x" });
  });
});
