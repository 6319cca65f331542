#!/bin/sh
# Entrypoint of the Prometheus container when shipping to Grafana Cloud (compose.grafana-cloud.yaml):
# renders the local config plus remote_write from the environment, then execs Prometheus with the
# arguments given. Fails in one line, before starting, when a variable or the token file is missing.
set -eu

config_in="${PROMETHEUS_CONFIG_IN:-/etc/prometheus/prometheus.yml}"
fragment="${REMOTE_WRITE_FRAGMENT:-/etc/grafana-cloud/remote-write.yml}"
rules_dir="${PROMETHEUS_RULES_DIR:-/etc/prometheus/rules}"
config_out="${PROMETHEUS_CONFIG_OUT:-/prometheus/prometheus.rendered.yml}"
: "${GRAFANA_CLOUD_API_KEY_PATH:=/run/secrets/grafana_cloud_api_key}"

fail() { echo "grafana-cloud: $*" >&2; exit 2; }
[ -n "${GRAFANA_CLOUD_PROMETHEUS_URL:-}" ] || fail "set GRAFANA_CLOUD_PROMETHEUS_URL (the remote_write URL of your stack)"
[ -n "${GRAFANA_CLOUD_PROMETHEUS_USER:-}" ] || fail "set GRAFANA_CLOUD_PROMETHEUS_USER (your stack's Prometheus user id)"
case "$GRAFANA_CLOUD_PROMETHEUS_URL" in https://*) ;; *) fail "GRAFANA_CLOUD_PROMETHEUS_URL must start with https://" ;; esac
[ -r "$GRAFANA_CLOUD_API_KEY_PATH" ] || fail "no token file at $GRAFANA_CLOUD_API_KEY_PATH (the grafana_cloud_api_key secret)"

# Values are substituted literally: escape sed's own metacharacters in them.
escape() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }
url=$(escape "$GRAFANA_CLOUD_PROMETHEUS_URL")
user=$(escape "$GRAFANA_CLOUD_PROMETHEUS_USER")
key_path=$(escape "$GRAFANA_CLOUD_API_KEY_PATH")
rules=$(escape "$rules_dir")

{
  # The rendered file lives elsewhere, so the relative rule path becomes absolute.
  sed -e "s|^  - rules/|  - $rules/|" "$config_in"
  echo
  sed -e "s|\${GRAFANA_CLOUD_PROMETHEUS_URL}|$url|" \
      -e "s|\${GRAFANA_CLOUD_PROMETHEUS_USER}|$user|" \
      -e "s|\${GRAFANA_CLOUD_API_KEY_PATH}|$key_path|" "$fragment"
} > "$config_out"

[ "${RENDER_ONLY:-0}" = 1 ] && exit 0
exec /bin/prometheus --config.file="$config_out" "$@"
