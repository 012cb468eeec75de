#!/usr/bin/env bash
# What a replica costs in memory: peak RSS (VmHWM) of the release k8scop
# with the four shipped packs against a private osmem-server, as BENCHMARKS.md
# ("Replicas through Elasticsearch") and the README report it.
#
#   cargo build --release -p k8scop --bin k8scop && make packs
#   scripts/replica-memory.sh            # K8SCOP (default target/release/k8scop),
#                                        # RULES (default out/rules)
#
# Backlog: 30 000 audit documents of 2024-03-01 from three clusters, read
# from --start 2024-03-01 (the whole day is the first window); VmHWM is read
# once every checkpoint exists. Idle: following live for 20 s with nothing
# new. Each case a lone `run`, then a replica holding one partition, then
# one holding three.
set -euo pipefail
cd "$(dirname "$0")/.."
K8SCOP=${K8SCOP:-target/release/k8scop}
RULES=${RULES:-out/rules}
OSMEM=$(ls .venv/lib/python3*/site-packages/osmem_server/bin/osmem-server | head -1)
WORK=$(mktemp -d)
PORT=$((20000 + RANDOM % 20000))
ES=http://127.0.0.1:$PORT
# osmem-server exits when its stdin closes: this script's end closes it.
exec 3> >("$OSMEM" -addr 127.0.0.1:$PORT -no-ja > "$WORK/osmem.out" 2>&1)
trap 'exec 3>&-; rm -rf "$WORK"' EXIT
until curl -sf "$ES" > /dev/null; do sleep 0.2; done

python3 - "$ES" <<'PY'
import datetime, json, sys, urllib.request
es = sys.argv[1]
t0 = datetime.datetime(2024, 3, 1, tzinfo=datetime.timezone.utc)
lines = []
for i in range(30000):
    t = (t0 + datetime.timedelta(milliseconds=100 * i)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    k = i % 30
    if k == 0:
        user, verb, res, sub, uri, code = "alice", "list", "secrets", "", "/api/v1/secrets", 200
    elif k in (7, 17, 27):
        uri = "/api/v1/namespaces/prod/pods/web/exec?command=cat&command=%2Fetc%2Fpasswd-" + str(i // 10) + "&container=app"
        user, verb, res, sub, code = "bob", "create", "pods", "exec", 101
    elif k == 13:
        user, verb, res, sub, uri, code = "carol", "create", "pods", "", "/api/v1/namespaces/dev/pods", 201
    else:
        user, verb, res, sub, code = "system:kube-scheduler", "update", "leases", "", 200
        uri = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/s"
    doc = {"@timestamp": t, "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
           "auditID": "a-" + str(i), "stage": "ResponseComplete", "requestURI": uri, "verb": verb,
           "user": {"username": user, "groups": ["system:authenticated"]}, "sourceIPs": ["10.0.0.9"],
           "userAgent": "kubectl/v1.29.2", "responseStatus": {"code": code},
           "objectRef": {"resource": res, "subresource": sub, "namespace": "prod", "name": "web"},
           "requestReceivedTimestamp": t, "stageTimestamp": t, "cluster": ["east", "west", "north"][(i // 30) % 3]}
    lines += [json.dumps({"index": {"_index": "logs-2024.03.01", "_id": "ev-%06d" % i}}), json.dumps(doc)]
for c in range(0, len(lines), 4000):
    body = ("\n".join(lines[c:c + 4000]) + "\n").encode()
    req = urllib.request.Request(es + "/_bulk", data=body, headers={"content-type": "application/x-ndjson"})
    assert not json.load(urllib.request.urlopen(req))["errors"]
urllib.request.urlopen(urllib.request.Request(es + "/logs-2024.03.01/_refresh", method="POST"))
PY

ONE=(--partition east=cluster:east)
THREE=(--partition east=cluster:east --partition west=cluster:west --partition north=cluster:north)

# measure ID MODE(backlog|idle) LABEL PARTITIONS [flags...]: PARTITIONS the
# names whose checkpoints a backlog waits for (none: a lone run's).
measure() {
    local id=$1 mode=$2 label=$3 parts=$4
    shift 4
    local start=() ids=("m-$id")
    [ "$mode" = backlog ] && start=(--start 2024-03-01T00:00:00Z)
    [ -n "$parts" ] && ids=($(for p in $parts; do echo "m-$id-partition-$p"; done))
    K8SCOP_LOG=warn "$K8SCOP" run --es-url "$ES" --logs-prefix logs --alerts-prefix "m-$id" \
        --instance "m-$id" --rules "$RULES" --module-cache "$WORK/cache" --listen 127.0.0.1:0 \
        --interval 0.5 --delay 0 --cluster-field cluster "${start[@]}" "$@" 2> "$WORK/$id.err" &
    local pid=$!
    if [ "$mode" = backlog ]; then
        for doc in "${ids[@]}"; do
            until curl -sf "$ES/k8scop-state-m-$id/_doc/$doc" > /dev/null; do sleep 0.2; done
        done
    else
        sleep 20
    fi
    printf '%-34s %s\n' "$label" "$(awk '/VmHWM/ {printf "%.0f MiB", $2 / 1024}' /proc/$pid/status)"
    kill -TERM $pid
    wait $pid
}

# A first run fills the module cache, so no case pays for compiling.
measure warm-up idle "" "" > /dev/null
measure idle-lone idle "idle, lone run" ""
measure idle-1 idle "idle, 1 partition" "" "${ONE[@]}"
measure idle-3 idle "idle, 3 partitions" "" "${THREE[@]}"
measure backlog-lone backlog "backlog, lone run (30 000)" ""
measure backlog-1 backlog "backlog, 1 partition (10 000)" "east" "${ONE[@]}"
measure backlog-3 backlog "backlog, 3 partitions (30 000)" "east west north" "${THREE[@]}"
