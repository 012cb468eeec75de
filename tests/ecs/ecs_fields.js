// Prints the official ECS field list as JSON, for host/tests/ecs.rs:
// {"version": "9.4.0", "fields": {"event.category": {"type": "keyword",
// "array": true, "allowed": [...], "expected_types": {...}}, ...}}.
// Installed by `make setup` (npm ci here).
const { EcsFlat, EcsVersion } = require("@elastic/ecs");

const fields = {};
for (const [name, f] of Object.entries(EcsFlat)) {
  const out = { type: f.type, array: (f.normalize || []).includes("array") };
  if (f.allowed_values) {
    out.allowed = f.allowed_values.map((v) => v.name);
    // What event.type values ECS expects with each event.category.
    out.expected_types = Object.fromEntries(
      f.allowed_values
        .filter((v) => v.expected_event_types)
        .map((v) => [v.name, v.expected_event_types]),
    );
  }
  fields[name] = out;
}
process.stdout.write(JSON.stringify({ version: EcsVersion, fields }));
