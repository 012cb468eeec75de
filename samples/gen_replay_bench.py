#!/usr/bin/env python3
"""A large audit log for timing a file replay (BENCHMARKS.md): the
synthesized control-plane chatter (samples/control-plane-chatter.jsonl, every
stage of every request) with the attack sample (samples/audit-sample.jsonl)
spread through it, repeated until N lines, each copy's times folded into its own five
minutes (copy k in minutes 5k to 5k+5) and its requests re-numbered (each
request its own auditID). Deterministic.

    python3 samples/gen_replay_bench.py 200000 > /tmp/replay-bench.jsonl
"""

import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).parent
TIME_KEYS = ("requestReceivedTimestamp", "stageTimestamp", "@timestamp", "timestamp")


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    chatter = [json.loads(l) for l in (HERE / "control-plane-chatter.jsonl").read_text().splitlines() if l.strip()]
    attack = []
    for line in (HERE / "audit-sample.jsonl").read_text().splitlines():
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            continue  # the sample's deliberately truncated line
        if doc.get("kind") == "Event":
            attack.append(doc)
    # One attack event every seven chatter events, as in the packs bench.
    block = []
    for i, doc in enumerate(chatter):
        block.append(doc)
        if i % 7 == 6:
            block.append(attack[(i // 7) % len(attack)])
    start = datetime(2024, 3, 1, tzinfo=timezone.utc)
    out = sys.stdout
    written = 0
    copy = 0
    while written < n:
        shift = timedelta(minutes=5 * copy)
        for doc in block:
            if written >= n:
                break
            doc = dict(doc)
            if "auditID" in doc:
                doc["auditID"] = f"{copy:05d}-{doc['auditID']}"
            for key in TIME_KEYS:
                value = doc.get(key)
                if isinstance(value, str) and value.startswith("20"):
                    t = datetime.fromisoformat(value.replace("Z", "+00:00"))
                    t = start + (t - datetime(2024, 3, 1, tzinfo=timezone.utc)) % timedelta(minutes=5) + shift
                    doc[key] = t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            out.write(json.dumps(doc, separators=(",", ":")) + "\n")
            written += 1
        copy += 1


if __name__ == "__main__":
    main()
