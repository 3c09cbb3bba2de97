# A single-node Consul agent for development and tests, on loopback only:
#
#   consul agent -dev -config-file=consul/dev-agent.hcl
#   export CONSUL_HTTP_ADDR=http://127.0.0.1:8500
#   npx ocr serve --consul "$CONSUL_HTTP_ADDR"            # or: npx ocr cluster --instances 3
#   npm test                                               # the Consul tests then use this agent
#
# -dev keeps everything in memory: a restarted dev agent has forgotten every registration (the
# servers register again within their confirmation period, 10 s). To keep registrations across a
# restart, run it as a one-node server with a data directory instead of -dev:
#
#   consul agent -server -bootstrap-expect=1 -data-dir=/tmp/consul-ocr -config-file=consul/dev-agent.hcl

datacenter  = "dc1"
node_name   = "ocr-dev"

# HTTP API, DNS and UI on loopback only; the agent itself (serf, RPC) on loopback too.
client_addr = "127.0.0.1"
bind_addr   = "127.0.0.1"

ports {
  http  = 8500
  https = -1
  dns   = 8600
  grpc  = -1 # Consul's own gRPC (xDS for Envoy): not used here
}

ui_config {
  enabled = true # http://127.0.0.1:8500/ui
}

log_level            = "INFO"
disable_update_check = true

# The instances' checks are GRPC and HTTP checks run by this agent: no script checks are needed.
enable_script_checks = false
