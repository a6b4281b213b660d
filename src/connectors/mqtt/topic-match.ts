/**
 * MQTT topic filter matching (MQTT 3.1.1 §4.7 / MQTT 5 §4.7): `+` matches one level, `#` the
 * remaining levels including none (`a/#` matches `a`), and a filter starting with a wildcard does
 * not match topics starting with `$` (§4.7.2). Returns the captures as template variables:
 * `{1}`, `{2}`… for the `+` levels in order, `{#}` for the `#` part, `{topic}` for the topic.
 */
export function matchTopic(filter: string, topic: string): Record<string, string> | null {
  if (topic.startsWith("$") && (filter.startsWith("+") || filter.startsWith("#"))) return null;
  const f = filter.split("/");
  const t = topic.split("/");
  const vars: Record<string, string> = { topic };
  let plus = 0;
  for (let i = 0; i < f.length; i++) {
    const level = f[i]!;
    if (level === "#") {
      vars["#"] = t.slice(i).join("/");
      return vars;
    }
    if (i >= t.length) return null;
    if (level === "+") vars[String(++plus)] = t[i]!;
    else if (level !== t[i]) return null;
  }
  return f.length === t.length ? vars : null;
}
