#!/usr/bin/env bash
# Create the least-privilege roles and users k8scop and Fluent Bit log in
# with, on an Elasticsearch with security on (ECK, Elastic Cloud,
# self-managed), and print the Secrets to create in the cluster.
#
#   ES_URL=https://elasticsearch.example.com:9200 \
#   ES_ADMIN_AUTH='admin-user:admin-password' \
#   deploy/security/elasticsearch/create.sh [--api-key]
#
# ES_ADMIN_AUTH is YOUR administrator's credentials (a user with the
# manage_security privilege), used here once from your workstation; they
# are never given to k8scop or Fluent Bit. ES_CA: a CA file for curl
# (--cacert), if the cluster's certificate is privately signed.
#
# With --api-key, k8scop gets an API key (role descriptor: the same role)
# instead of a user; Fluent Bit always gets a user (basic auth).
#
# The index names follow deploy/base/k8scop.toml: audit logs logs-*
# (logs-prefix, or the logs-pattern of deploy/overlays/eks, gke, aks),
# alerts k8scop-alerts-* and the checkpoint index k8scop-state-<alerts-prefix>.
# Change them in the .json files if you change those settings.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
: "${ES_URL:?set ES_URL, e.g. https://elasticsearch.example.com:9200}"
: "${ES_ADMIN_AUTH:?set ES_ADMIN_AUTH=user:password of an administrator}"
curl_es() {
    curl -fsS ${ES_CA:+--cacert "$ES_CA"} -u "$ES_ADMIN_AUTH" \
        -H 'Content-Type: application/json' "$@"
}
password() { openssl rand -base64 24 | tr -d '/+='; }

curl_es -X PUT "$ES_URL/_security/role/k8scop" -d @"$here/k8scop-role.json" >/dev/null
curl_es -X PUT "$ES_URL/_security/role/k8scop-fluent-bit" -d @"$here/fluent-bit-role.json" >/dev/null
echo "roles k8scop and k8scop-fluent-bit created" >&2

fb_password="$(password)"
curl_es -X PUT "$ES_URL/_security/user/k8scop-fluent-bit" \
    -d "{\"password\": \"$fb_password\", \"roles\": [\"k8scop-fluent-bit\"], \"full_name\": \"Fluent Bit (k8scop audit log)\"}" >/dev/null

echo "# Create these Secrets in your cluster:"
if [ "${1:-}" = "--api-key" ]; then
    role="$(cat "$here/k8scop-role.json")"
    key="$(curl_es -X POST "$ES_URL/_security/api_key" \
        -d "{\"name\": \"k8scop\", \"role_descriptors\": {\"k8scop\": $role}}" \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["encoded"])')"
    echo "kubectl -n k8scop create secret generic k8scop-elasticsearch --from-literal=api-key='$key'"
else
    k8scop_password="$(password)"
    curl_es -X PUT "$ES_URL/_security/user/k8scop" \
        -d "{\"password\": \"$k8scop_password\", \"roles\": [\"k8scop\"], \"full_name\": \"k8scop\"}" >/dev/null
    echo "kubectl -n k8scop create secret generic k8scop-elasticsearch --from-literal=username=k8scop --from-literal=password='$k8scop_password'"
fi
echo "kubectl -n k8scop-audit create secret generic k8scop-fluent-bit --from-literal=username=k8scop-fluent-bit --from-literal=password='$fb_password'"
