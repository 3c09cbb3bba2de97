#!/usr/bin/env bash
# The container image and compose.yaml, built and run on this machine with Debian's podman and runc
# (issue 19; .ci/run runs it after npm test). Fails loudly, never skips: every check says what broke.
#
#   1. podman, runc, debootstrap, podman-compose, curl, PyYAML: installed with apt when missing (as root).
#   2. The base image: no registry is reachable, so `debootstrap --variant=minbase bookworm` plus this
#      machine's node (Node.js 20) and npm, imported as localhost/node20-bookworm-slim:<node version>.
#      Kept between runs (podman image exists).
#   3. podman build of Containerfile with that BASE; npm inside the build reads this machine's npm cache
#      (--volume ~/.npm) and trusts its CA bundle ($NODE_EXTRA_CA_CERTS / $SSL_CERT_FILE, for a registry
#      behind a TLS-inspecting proxy). Prints the image size.
#   4. The image: non-root user, no dev dependency, no TypeScript, no compiler, no package manager,
#      HEALTHCHECK, STOPSIGNAL SIGTERM and an exec-form ENTRYPOINT in its config.
#   5. A container with a read-only root file system and no writable mount at all, under --memory 2g --cpus 1:
#      time from `podman run` to SERVING (printed), workers and memory budget sized by those limits, the
#      image's HEALTHCHECK, Recognize through the published gRPC port (the host's
#      ocr recognize), POST /api/ocr and /metrics through the published HTTP port, the prepared models in
#      use, uid not 0, nothing writable; then SIGTERM and exit 0 within the grace period (printed; the
#      CMD's --grace-ms, which with a second to exit must end within docker stop's 10 s). A server left on
#      loopback by arguments without --host 0.0.0.0 says in its log that published ports cannot reach it.
#   6. compose.yaml: parsed and checked (services, commands, environment, every variable documented in
#      README, each server's --grace-ms plus a second within its stop_grace_period), `podman-compose
#      config`, then brought up as far as this machine allows: the instances and the gateway from the
#      image just built, Consul replaced by the repository's Consul double (its image cannot be pulled
#      here), Prometheus not started (same reason) but its targets fetched from inside the network.
#
# Environment: OCR_IMAGE (tag to build, default localhost/ocr-service:test), OCR_SHARED_DIR (the evaluation
# sets, default ../shared), KEEP=1 (leave the containers and the work directory for a look afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

log() { printf '[container-test] %s\n' "$*" >&2; }
fail() {
  printf '[container-test] FAIL: %s\n' "$*" >&2
  exit 1
}
now_ms() { date +%s%3N; }

# ---- 1. tools ------------------------------------------------------------------------------------------
missing=()
command -v podman >/dev/null || missing+=(podman)
command -v runc >/dev/null || missing+=(runc)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v podman-compose >/dev/null || missing+=(podman-compose)
# Compose's services find each other by name: on CNI networks through the dnsname plugin (netavark's
# come with aardvark-dns). Debian's podman installs neither, and its networks then resolve no names.
[[ -x /usr/lib/cni/dnsname || -x /usr/lib/podman/aardvark-dns ]] || missing+=(golang-github-containernetworking-plugin-dnsname)
command -v curl >/dev/null || missing+=(curl)
python3 -c 'import yaml' 2>/dev/null || missing+=(python3-yaml)
if ((${#missing[@]})); then
  [[ $(id -u) == 0 ]] || fail "missing ${missing[*]}, and not root to install them"
  log "installing ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    fail "apt-get install ${missing[*]} failed"
fi
NODE=$(readlink -f "$(command -v node)") || fail 'node is not on PATH'
NODE_VERSION=$(node --version)
[[ $NODE_VERSION == v20.* ]] || fail "the image is Node.js 20; this machine's node is $NODE_VERSION"
NPM_DIR=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
[[ -f $NPM_DIR/package.json ]] || fail "npm's package directory not found (from $(command -v npm))"
SHARED=${OCR_SHARED_DIR:-$ROOT/../shared}
DOC=$SHARED/eval-dev/set/docs/d000_invoice.jpg
[[ -f $DOC ]] || fail "test image $DOC missing (the evaluation sets: OCR_SHARED_DIR)"
EXPECTED='发票代码[:：]166277365573'

WORK=$(mktemp -d /var/tmp/ocr-container-test.XXXXXX)
IMAGE=${OCR_IMAGE:-localhost/ocr-service:test}
NAME=ocr-container-test-$$
PROJECT=ocrtest$$
# Containers run with runc and without ulimits of their own (what these machines allow).
printf '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n' >"$WORK/containers.conf"
export CONTAINERS_CONF=$WORK/containers.conf

cleanup() {
  local status=$?
  if [[ ${KEEP:-} == 1 ]]; then
    log "KEEP=1: left container $NAME, compose project $PROJECT and $WORK"
    return
  fi
  podman rm -f -t 0 "$NAME" "$NAME-loopback" >/dev/null 2>&1 || true
  if [[ -f $WORK/compose.override.yaml ]]; then
    (cd "$ROOT" && podman-compose -p "$PROJECT" -f compose.yaml -f "$WORK/compose.override.yaml" down -t 0 >/dev/null 2>&1) || true
  fi
  # podman-compose 1.0.3 leaves its network behind (its dry run creates it too).
  podman network rm -f "${PROJECT}_default" >/dev/null 2>&1 || true
  rm -rf "$WORK"
  exit $status
}
trap cleanup EXIT

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

# The host's CLI (recognize, health) and the Consul stand-in run from dist/: built from this checkout,
# unless dist/ is newer than every source (as after npm test).
if [[ -f dist/src/cli/main.js && -f dist/test/support/consul-standin.js &&
  -z $(find src test bench -name '*.ts' -newer dist/src/cli/main.js -print -quit) ]]; then
  log 'dist/ is up to date'
else
  log 'building dist/ (tsc)'
  npx tsc -p tsconfig.json || fail 'tsc failed'
fi

# ---- 2. base image -------------------------------------------------------------------------------------
# The tag names the node version, and the recipe's own version after the dash: either changing makes a new one.
BASE_IMAGE=localhost/node20-bookworm-slim:${NODE_VERSION#v}-1
if podman image exists "$BASE_IMAGE"; then
  log "base image $BASE_IMAGE: cached"
else
  log "base image $BASE_IMAGE: debootstrap --variant=minbase bookworm (about a minute)"
  t=$(now_ms)
  rootfs=$WORK/rootfs
  debootstrap --variant=minbase bookworm "$rootfs" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$WORK/debootstrap.log" 2>&1 ||
    fail "debootstrap failed: $(tail -5 "$WORK/debootstrap.log")"
  # Laid out as the official node images are: node and npm in /usr/local.
  install -m 0755 "$NODE" "$rootfs/usr/local/bin/node"
  mkdir -p "$rootfs/usr/local/lib/node_modules"
  cp -a "$NPM_DIR" "$rootfs/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  # Slim, as Debian's -slim images: no downloaded packages, package lists, documentation or translations.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
  tar -C "$rootfs" -c . | podman import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["node"]' - "$BASE_IMAGE" >/dev/null || fail 'podman import of the base image failed'
  rm -rf "$rootfs"
  log "base image built in $((($(now_ms) - t) / 1000)) s"
fi

# ---- 3. build ------------------------------------------------------------------------------------------
build_args=(--build-arg "BASE=$BASE_IMAGE")
CA=${NODE_EXTRA_CA_CERTS:-${SSL_CERT_FILE:-}}
if [[ -n $CA ]]; then
  [[ -f $CA ]] || fail "CA bundle $CA (NODE_EXTRA_CA_CERTS/SSL_CERT_FILE) not found"
  build_args+=(--volume "$CA:/run/host-ca.crt:ro" --build-arg NODE_EXTRA_CA_CERTS=/run/host-ca.crt)
fi
for v in HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy; do
  [[ -n ${!v:-} ]] && build_args+=(--build-arg "$v=${!v}")
done
NPM_CACHE=$(npm config get cache 2>/dev/null || echo "$HOME/.npm")
mkdir -p "$NPM_CACHE"
log "podman build $IMAGE (npm cache $NPM_CACHE)"
t=$(now_ms)
podman build --format docker -f Containerfile -t "$IMAGE" "${build_args[@]}" --volume "$NPM_CACHE:/root/.npm" . >"$WORK/build.log" 2>&1 ||
  fail "podman build failed:
$(tail -40 "$WORK/build.log")"
BUILD_S=$((($(now_ms) - t) / 1000))
SIZE=$(podman image inspect --format '{{.Size}}' "$IMAGE")
log "built in $BUILD_S s; image size $((SIZE / 1000000)) MB ($((SIZE / 1048576)) MiB)"

# ---- 4. what the image holds ---------------------------------------------------------------------------
config() { podman image inspect --format "$1" "$IMAGE"; }
[[ $(config '{{.Config.User}}') == 10001:10001 ]] || fail "image user is '$(config '{{.Config.User}}')', not 10001:10001"
[[ $(config '{{.Config.StopSignal}}') == SIGTERM ]] || fail 'STOPSIGNAL is not SIGTERM'
[[ $(config '{{json .Config.Entrypoint}}') == '["node","/app/bin/ocr.js"]' ]] || fail "ENTRYPOINT is $(config '{{json .Config.Entrypoint}}'), not exec form"
config '{{json .Config.Healthcheck}}' | grep -q '"CMD","node","/app/bin/ocr.js","health"' || fail "no HEALTHCHECK through ocr health: $(config '{{json .Config.Healthcheck}}')"
MNT=$(podman image mount "$IMAGE")
check_contents() {
  local bad=()
  # Every package in the image's node_modules must be a production one by the lock file (no "dev": true).
  node -e '
    const fs = require("fs"), path = require("path");
    const [root, lockFile] = process.argv.slice(1);
    const lock = JSON.parse(fs.readFileSync(lockFile, "utf8")).packages;
    const dev = [];
    let count = 0;
    const walk = (dir, prefix) => {
      for (const name of fs.readdirSync(dir)) {
        if (name.startsWith(".")) continue;
        if (name.startsWith("@")) { walk(path.join(dir, name), prefix + name + "/"); continue; }
        const key = prefix + name;
        count++;
        if (!lock[key]) dev.push(key + " (not in package-lock.json)");
        else if (lock[key].dev) dev.push(key);
        const nested = path.join(dir, name, "node_modules");
        if (fs.existsSync(nested)) walk(nested, key + "/node_modules/");
      }
    };
    walk(path.join(root, "app/node_modules"), "node_modules/");
    if (dev.length) { console.error("dev dependencies in the image: " + dev.join(", ")); process.exit(1); }
    console.error(`[container-test] node_modules: ${count} packages, all production dependencies`);
  ' "$MNT" "$ROOT/package-lock.json" || bad+=('dev dependencies')
  for p in typescript mocha eslint prettier chai ts-proto dependency-cruiser playwright-core; do
    [[ -e $MNT/app/node_modules/$p ]] && bad+=("node_modules/$p")
  done
  for p in usr/bin/gcc usr/bin/cc usr/bin/g++ usr/bin/make usr/bin/python3 usr/local/bin/npm usr/local/bin/npx usr/local/lib/node_modules/npm usr/local/bin/yarn; do
    [[ -e $MNT/$p ]] && bad+=("/$p")
  done
  [[ -d $MNT/app/src ]] && bad+=(/app/src)
  [[ -n $(find "$MNT/app/dist" -name '*.ts' -print -quit) ]] && bad+=('.ts files in /app/dist')
  ls "$MNT/app/models-cache/"*.onnx >/dev/null 2>&1 || bad+=('no prepared models in /app/models-cache')
  ((${#bad[@]} == 0)) || fail "the image holds what it should not: ${bad[*]}"
}
check_contents
podman image unmount "$IMAGE" >/dev/null
log 'image: user 10001, no dev dependency, no compiler or package manager, HEALTHCHECK, STOPSIGNAL SIGTERM, exec ENTRYPOINT'

# ---- 5. a read-only container --------------------------------------------------------------------------
GRPC_PORT=$(free_port)
HTTP_PORT=$(free_port)
# The image's CMD: its drain plus a second must end before `docker stop`'s default 10 s turns into SIGKILL.
GRACE_MS=$(node -e 'const c=JSON.parse(process.argv[1]);console.log(c.includes("--grace-ms")?c[c.indexOf("--grace-ms")+1]:10000)' "$(config '{{json .Config.Cmd}}')")
((GRACE_MS + 1000 <= 10000)) || fail "the image's CMD drains for --grace-ms $GRACE_MS: past docker stop's 10 s with the second an exit may take"
ocr() { node "$ROOT/bin/ocr.js" "$@"; }
dump() {
  log "container logs (last 30 lines):"
  podman logs --tail 30 "$NAME" >&2 || true
}
# Limits as an operator sets them: the defaults that follow the machine (workers, memory budget) must follow
# the container's, not the host's: one worker for --cpus 1, a budget of an eighth of --memory 2g (256 MiB).
LIMITS=(--memory 2g --cpus 1)
log "podman run --read-only (no tmpfs) ${LIMITS[*]} -p $GRPC_PORT:50051 -p $HTTP_PORT:8080"
t0=$(now_ms)
# (podman's stderr to a file: without systemd it says, harmlessly, that it cannot time the health checks itself.)
podman run -d --name "$NAME" --read-only --read-only-tmpfs=false "${LIMITS[@]}" \
  -p "127.0.0.1:$GRPC_PORT:50051" -p "127.0.0.1:$HTTP_PORT:8080" "$IMAGE" >/dev/null 2>"$WORK/run.err" ||
  fail "podman run failed: $(cat "$WORK/run.err")"
until ocr health --target "127.0.0.1:$GRPC_PORT" --deadline-ms 1000 >/dev/null 2>&1; do
  [[ $(podman inspect --format '{{.State.Running}}' "$NAME") == true ]] || {
    dump
    fail "the container exited before SERVING (exit code $(podman inspect --format '{{.State.ExitCode}}' "$NAME"))"
  }
  (($(now_ms) - t0 < 120000)) || {
    dump
    fail 'not SERVING 120 s after podman run'
  }
  sleep 0.1
done
START_MS=$(($(now_ms) - t0))
log "podman run → SERVING: $START_MS ms"

podman healthcheck run "$NAME" >/dev/null || {
  dump
  fail "the image's HEALTHCHECK reports unhealthy on a serving container"
}
info=$(curl -sS --fail "http://127.0.0.1:$HTTP_PORT/api/info") || fail "GET /api/info failed: ${info:0:400}"
sized=$(node -e 'const d=JSON.parse(process.argv[1]).data;console.log(d.workers, d.limits.memory_budget_bytes)' "$info")
[[ $sized == "1 $((256 * 1048576))" ]] ||
  fail "under ${LIMITS[*]}: workers and memory budget $sized, not 1 and $((256 * 1048576)) (the host's cores and memory, not the container's?)"
log "under ${LIMITS[*]}: 1 worker, memory budget 256 MiB"
uid=$(podman exec "$NAME" id -u)
[[ $uid != 0 ]] || fail 'the server runs as root'
[[ $(podman inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$NAME") == true ]] || fail 'the root file system is not read-only'
for f in /app/x /tmp/x /var/tmp/x /x; do
  podman exec "$NAME" sh -c "echo > $f" 2>/dev/null && fail "$f is writable in the container"
done
# What `ocr serve` needs on this CPU is in the prepared cache: strict prepare-models exits 1 if it had to write.
prepared=$(podman exec "$NAME" node /app/bin/ocr.js prepare-models) || fail "the prepared models do not match this image's code: $prepared"
grep -qv $'\tcached\t' <<<"$prepared" && fail "models not found in the prepared cache: $prepared"
log "running as uid $uid, root file system read-only, models from the prepared cache"

answer=$(ocr recognize --target "127.0.0.1:$GRPC_PORT" --json "$DOC") || fail "ocr recognize failed: $answer"
grep -qE "$EXPECTED" <<<"$answer" || fail "Recognize did not read $EXPECTED: ${answer:0:400}"
lines=$(node -e 'console.log(JSON.parse(process.argv[1]).lines.length)' "$answer")
answer=$(curl -sS --fail-with-body -F "image=@$DOC" "http://127.0.0.1:$HTTP_PORT/api/ocr") || fail "POST /api/ocr failed: $answer"
grep -qE "$EXPECTED" <<<"$answer" || fail "/api/ocr did not read $EXPECTED: ${answer:0:400}"
# Read whole, then searched (as the other checks here): with pipefail, `curl | grep -q` fails
# whenever grep stops reading at its match and curl, still writing, dies of SIGPIPE.
metrics=$(curl -sS --fail "http://127.0.0.1:$HTTP_PORT/metrics") || fail "GET /metrics failed: ${metrics:0:400}"
grep -q '^ocr_' <<<"$metrics" || fail '/metrics has no ocr_ metric'
log "Recognize (gRPC, $lines lines) and POST /api/ocr read the invoice; /metrics served"

t=$(now_ms)
podman kill --signal TERM "$NAME" >/dev/null
code=$(timeout $((GRACE_MS / 1000 + 10)) podman wait "$NAME") || {
  dump
  fail 'no exit within the grace period plus 10 s after SIGTERM'
}
STOP_MS=$(($(now_ms) - t))
[[ $code == 0 ]] || {
  dump
  fail "exit code $code after SIGTERM"
}
((STOP_MS <= GRACE_MS)) || fail "exited $STOP_MS ms after SIGTERM, past the grace period ($GRACE_MS ms)"
grep -q 'SIGTERM\|drain\|shutting' <<<"$(podman logs "$NAME" 2>&1)" || log '(no shutdown line in the logs)'
log "SIGTERM → exit 0 in $STOP_MS ms (grace period $GRACE_MS ms)"
podman rm "$NAME" >/dev/null 2>&1

# Arguments after the image replace its command, --host 0.0.0.0 with it: on loopback nothing published
# reaches the server while its health check passes, and its log must say so (the gateway: it starts at once).
podman run -d --name "$NAME-loopback" --read-only "$IMAGE" gateway --target 127.0.0.1:1 >/dev/null 2>>"$WORK/run.err" ||
  fail "podman run of the gateway failed: $(cat "$WORK/run.err")"
t=$(now_ms)
until grep -q '^ocr gateway: listening' <<<"$(podman logs "$NAME-loopback" 2>&1)"; do
  (($(now_ms) - t < 30000)) || fail "the gateway on loopback not listening 30 s after podman run: $(podman logs --tail 5 "$NAME-loopback" 2>&1)"
  sleep 0.1
done
grep -q "as PID 1, a container's main process" <<<"$(podman logs "$NAME-loopback" 2>&1)" ||
  fail "a server on loopback in a container does not say that published ports cannot reach it: $(podman logs --tail 5 "$NAME-loopback" 2>&1)"
podman rm -f -t 0 "$NAME-loopback" >/dev/null 2>&1
log 'a server left on loopback (arguments without --host 0.0.0.0) says that published ports reach none of it'

# ---- 6. compose.yaml -----------------------------------------------------------------------------------
log 'compose.yaml: checking its services, commands and variables'
python3 - "$ROOT" <<'PY' || fail 'compose.yaml does not pass its checks'
import re, sys, pathlib, yaml
root = pathlib.Path(sys.argv[1])
text = (root / 'compose.yaml').read_text()
doc = yaml.safe_load(text)
services = doc['services']
errors = []
want = {'consul', 'ocr-1', 'ocr-2', 'ocr-3', 'gateway', 'prometheus'}
if set(services) != want:
    errors.append(f'services {sorted(services)}, want {sorted(want)}')
instances = [n for n in services if n.startswith('ocr-')]
for name in instances:
    s = services[name]
    cmd = s.get('command', [])
    if cmd[:1] != ['serve']: errors.append(f'{name}: command does not start with serve')
    def flag(f):
        return cmd[cmd.index(f) + 1] if f in cmd else None
    if flag('--host') != '0.0.0.0': errors.append(f'{name}: --host is not 0.0.0.0')
    if flag('--advertise-host') != name: errors.append(f'{name}: --advertise-host is not its service name')
    if s.get('environment', {}).get('CONSUL_HTTP_ADDR') != 'http://consul:8500': errors.append(f'{name}: CONSUL_HTTP_ADDR is not http://consul:8500')
    if not s.get('read_only'): errors.append(f'{name}: not read_only')
    if 'consul' not in s.get('depends_on', []): errors.append(f'{name}: does not depend on consul')
gw = services['gateway'].get('command', [])
if gw[:1] != ['gateway'] or 'consul://consul:8500/ocr' not in gw: errors.append(f'gateway: command {gw}')
if 'healthcheck' not in services['gateway']: errors.append('gateway: no health check of its own (the image checks gRPC)')
# SIGTERM: a server exits within its --grace-ms plus a second (the gateway's default: 10 s); the engine's
# SIGKILL comes at stop_grace_period (default 10 s), which must leave it that time.
def seconds(d):
    return sum(float(n) * {'h': 3600, 'm': 60, 's': 1, 'ms': 0.001}[u] for n, u in re.findall(r'([\d.]+)(ms|h|m|s)', str(d)))
for name in instances + ['gateway']:
    cmd = services[name].get('command', [])
    grace = int(cmd[cmd.index('--grace-ms') + 1]) / 1000 if '--grace-ms' in cmd else 10
    stop = seconds(services[name].get('stop_grace_period', '10s'))
    if grace + 1 > stop: errors.append(f'{name}: --grace-ms {grace:g} s plus a second outlasts stop_grace_period {stop:g} s (SIGKILL, exit 137)')
# Prometheus scrapes every instance's HTTP port, and the gateway's (its cluster_reachable gauge is the gateway's alert).
prom = yaml.safe_load((root / 'compose' / 'prometheus.yml').read_text())
def targets(job_name):
    return {t for job in prom['scrape_configs'] if job['job_name'] == job_name for sc in job['static_configs'] for t in sc['targets']}
if targets('ocr') != {f'{n}:8080' for n in instances}: errors.append(f'prometheus targets {sorted(targets("ocr"))}')
if targets('ocr-gateway') != {'gateway:8080'}: errors.append(f'prometheus gateway targets {sorted(targets("ocr-gateway"))}, want gateway:8080')
# Every variable: documented in compose.yaml's header comment and in README's table.
readme = (root / 'README.md').read_text()
header = text.split('\nx-', 1)[0]
variables = set(re.findall(r'\$\{(\w+)', text))
for s in services.values():
    env = s.get('environment', {})
    variables |= set(env if isinstance(env, dict) else [e.split('=')[0] for e in env])
variables |= set(re.findall(r'^\s*#\s*(CONSUL_HTTP_TOKEN):', text, re.M))
for v in sorted(variables):
    if v not in header and not re.search(rf'#.*\b{v}\b', text): errors.append(f'{v}: not documented in compose.yaml')
    if f'`{v}`' not in readme: errors.append(f'{v}: not in README\'s table')
for e in errors: print('compose.yaml:', e, file=sys.stderr)
print(f'[container-test] compose.yaml: {len(services)} services, variables {", ".join(sorted(variables))}', file=sys.stderr)
sys.exit(1 if errors else 0)
PY
# Debian's podman-compose (1.0.3) has no `config`: its dry run parses, interpolates and merges the file and
# prints the podman commands it would run, one `podman run` per service.
OCR_IMAGE=$IMAGE podman-compose --dry-run -p "$PROJECT" -f compose.yaml up -d >"$WORK/compose-dry-run.log" 2>&1 ||
  fail "podman-compose --dry-run up failed: $(tail -20 "$WORK/compose-dry-run.log")"
runs=$(grep -c '^podman run ' "$WORK/compose-dry-run.log" || true)
[[ $runs == 6 ]] || fail "podman-compose --dry-run up: $runs podman run commands, not 6: $(cat "$WORK/compose-dry-run.log")"

# Bring-up. Consul's and Prometheus' images come from a registry this machine cannot reach. Consul's
# place is taken by the repository's Consul double (test/support/consul-standin.ts: registration, GRPC
# checks, blocking health queries) on the base image with this checkout mounted; Prometheus is not
# started, and its targets are fetched from inside the network instead.
GATEWAY_PORT=$(free_port)
CONSUL_PORT=$(free_port)
# (entrypoint, not command: podman-compose 1.0.3 appends an override's command to the file's; the stand-in
# ignores the Consul arguments that follow.)
# node_modules may be a link to another checkout's (a git worktree's): mounted where the link points too.
NODE_MODULES=$(readlink -f node_modules)
cat >"$WORK/compose.override.yaml" <<EOF
services:
  consul:
    image: $BASE_IMAGE
    entrypoint: [node, /repo/dist/test/support/consul-standin.js]
    volumes: ['$ROOT:/repo:ro', '$NODE_MODULES:$NODE_MODULES:ro']
EOF
compose() { OCR_IMAGE=$IMAGE OCR_HTTP_PORT=$GATEWAY_PORT CONSUL_HTTP_PORT=$CONSUL_PORT podman-compose -p "$PROJECT" -f compose.yaml -f "$WORK/compose.override.yaml" "$@"; }
log 'podman-compose up: consul (stand-in), ocr-1, ocr-2, ocr-3, gateway; prometheus not started (no registry)'
t=$(now_ms)
compose up -d consul ocr-1 ocr-2 ocr-3 gateway >"$WORK/compose-up.log" 2>&1 || fail "podman-compose up failed: $(tail -20 "$WORK/compose-up.log")"
compose_dump() {
  for s in consul ocr-1 ocr-2 ocr-3 gateway; do
    log "--- ${PROJECT}_${s}_1"
    podman logs --tail 10 "${PROJECT}_${s}_1" >&2 || true
  done
}
# Instances of service ocr in Consul ($1: '' for all, '?passing' for those passing their checks).
consul_count() {
  curl -sS "http://127.0.0.1:$CONSUL_PORT/v1/health/service/ocr$1" 2>/dev/null |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{console.log(JSON.parse(s).length)}catch{console.log(-1)}})'
}
# The three registered with Consul, and passing its gRPC checks, which dial the advertised service names.
until [[ $(consul_count '?passing') == 3 ]]; do
  (($(now_ms) - t < 120000)) || {
    compose_dump
    fail 'three instances not passing in Consul 120 s after compose up'
  }
  sleep 0.5
done
log "compose: 3 instances passing in Consul $(($(now_ms) - t)) ms after compose up"
# The gateway's check last: its /readyz answers 503 until it has reached an instance, which it finds
# through Consul a moment after they pass there.
until curl -sf "http://127.0.0.1:$GATEWAY_PORT/readyz" >/dev/null; do
  (($(now_ms) - t < 150000)) || {
    compose_dump
    fail 'gateway not ready'
  }
  sleep 0.5
done
for s in ocr-1 ocr-2 ocr-3 gateway; do
  podman healthcheck run "${PROJECT}_${s}_1" >/dev/null 2>&1 || {
    compose_dump
    fail "compose: the health check of $s fails"
  }
done
declare -A seen=()
for i in 1 2 3 4 5 6; do
  answer=$(curl -sS --fail-with-body -F "image=@$DOC" "http://127.0.0.1:$GATEWAY_PORT/api/ocr") || fail "POST /api/ocr through the gateway failed: $answer"
  grep -qE "$EXPECTED" <<<"$answer" || fail "gateway: did not read $EXPECTED: ${answer:0:400}"
  seen[$(node -e 'const a=JSON.parse(process.argv[1]);console.log(a.instance_id??a.instance??"?")' "$answer")]=1
done
log "compose: 6 POST /api/ocr through the gateway answered by ${#seen[@]} instance(s): ${!seen[*]}"
((${#seen[@]} >= 2)) || fail 'the gateway sent every request to one instance'
# Prometheus' targets, from inside the network (the gateway's container), as Prometheus would scrape them.
for target in ocr-1:8080 ocr-2:8080 ocr-3:8080; do
  podman exec "${PROJECT}_gateway_1" node -e "fetch('http://$target/metrics').then(async (r) => { const t = await r.text(); process.exit(r.ok && /^ocr_/m.test(t) ? 0 : 1); }, () => process.exit(1))" ||
    fail "Prometheus target $target/metrics not served"
done
podman exec "${PROJECT}_gateway_1" node -e "fetch('http://gateway:8080/metrics').then(async (r) => { const t = await r.text(); process.exit(r.ok && /^ocr_gateway_cluster_reachable 1$/m.test(t) ? 0 : 1); }, () => process.exit(1))" ||
  fail 'Prometheus target gateway:8080/metrics does not say ocr_gateway_cluster_reachable 1'
log 'compose: the Prometheus targets ocr-1:8080, ocr-2:8080, ocr-3:8080 serve /metrics, and gateway:8080 says its cluster is reachable'
# Stop: SIGTERM to the four at once, as `docker compose stop` sends it (podman-compose 1.0.3 stops one
# after the other); each deregisters, drains and exits 0. The time to exit within the grace period is
# step 5's check; here a DNS lookup of `consul` may stall: aardvark-dns 1.4 (podman 4.3's resolver) was
# seen to hold lookups 5-10 s while containers on the network start or stop, and an instance then exits
# once the lookup returns, so the timeout here is longer and the times are printed.
t=$(now_ms)
podman stop -t 30 "${PROJECT}_ocr-1_1" "${PROJECT}_ocr-2_1" "${PROJECT}_ocr-3_1" "${PROJECT}_gateway_1" >"$WORK/compose-stop.log" 2>&1 ||
  fail "podman stop failed: $(tail -5 "$WORK/compose-stop.log")"
times=()
for s in ocr-1 ocr-2 ocr-3 gateway; do
  code=$(podman inspect --format '{{.State.ExitCode}}' "${PROJECT}_${s}_1")
  [[ $code == 0 ]] || {
    podman logs --tail 8 "${PROJECT}_${s}_1" >&2 || true
    fail "$s exited $code after SIGTERM"
  }
  finished=$(date -d "$(podman inspect --format '{{.State.FinishedAt}}' "${PROJECT}_${s}_1" | sed 's/ UTC$//')" +%s%3N)
  times+=("$s $((finished - t)) ms")
done
log "compose: SIGTERM → exit 0: $(IFS=,; echo "${times[*]}")"
# Out of Consul: deregistered on the way out (or, where that call was lost, failing their check).
registered=$(consul_count '')
log "compose: $registered instance(s) still registered after the stop (0: each deregistered itself)"
# Which, and what it said of Consul on its way out: the check reaps it, but a lost deregistration is worth seeing.
if [[ $registered != 0 ]]; then
  for s in ocr-1 ocr-2 ocr-3; do
    podman logs "${PROJECT}_${s}_1" 2>&1 | grep -iE 'consul|deregist' | tail -4 | sed "s/^/[container-test]   $s: /" >&2 || true
  done
fi
until [[ $(consul_count '?passing') == 0 ]]; do
  (($(now_ms) - t < 60000)) || fail 'instances still passing in Consul 60 s after they stopped'
  sleep 0.5
done

printf '\n[container-test] PASS  image %s: %s MB; build %s s; podman run → SERVING %s ms; SIGTERM → exit 0 in %s ms\n' \
  "$IMAGE" "$((SIZE / 1000000))" "$BUILD_S" "$START_MS" "$STOP_MS" >&2
printf '[container-test] not run here: the consul and prometheus images (no registry reachable); Consul was the repository'"'"'s double\n' >&2
