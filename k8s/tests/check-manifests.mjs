// Checks every kustomization of k8s/ offline, the way an API server and a reviewer would:
//   1. render it with `kubectl kustomize` (base, every overlay, and the base with each component);
//   2. validate every object against the Kubernetes OpenAPI schemas (kubernetes-models'
//      validate(): wrong types, missing required fields, bad enum values);
//   3. type-check every object as a TypeScript literal of its API type (tsc): an unknown or
//      misspelt field (`readinesProbe`) is an error there, which the schemas let through;
//   4. assert sasmint's own deployment policy (non-root, read-only root, probes on the
//      configuration's health port, no subPath key mounts, PDB, HPA, NetworkPolicy, the metrics
//      port, ServiceMonitor and PrometheusRule, ...).
// Then runs the same checks on the broken fixtures in fixtures/ and requires each to fail with
// the message its first line names ("# expect: ...").
//
//   node check-manifests.mjs            (from k8s/tests, after `npm ci`)
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { parseAllDocuments } from "yaml";

import * as coreV1 from "kubernetes-models/v1";
import * as appsV1 from "kubernetes-models/apps/v1";
import * as autoscalingV2 from "kubernetes-models/autoscaling/v2";
import * as policyV1 from "kubernetes-models/policy/v1";
import * as networkingV1 from "kubernetes-models/networking.k8s.io/v1";
import * as certManagerV1 from "@kubernetes-models/cert-manager/cert-manager.io/v1";
import * as monitoringV1 from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";

const here = dirname(fileURLToPath(import.meta.url));
const k8s = resolve(here, "..");

// apiVersion -> [models module, module path for the type-check]
const groups = {
  "v1": [coreV1, "kubernetes-models/v1"],
  "apps/v1": [appsV1, "kubernetes-models/apps/v1"],
  "autoscaling/v2": [autoscalingV2, "kubernetes-models/autoscaling/v2"],
  "policy/v1": [policyV1, "kubernetes-models/policy/v1"],
  "networking.k8s.io/v1": [networkingV1, "kubernetes-models/networking.k8s.io/v1"],
  "cert-manager.io/v1": [certManagerV1, "@kubernetes-models/cert-manager/cert-manager.io/v1"],
  "monitoring.coreos.com/v1": [monitoringV1,
                               "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1"],
  // No published model: types.ts transcribes the driver's v1 CRD.
  "secrets-store.csi.x-k8s.io/v1": [null, "./types.js"],
};

// The alert rules (plain rule file) that components/monitoring's PrometheusRule copies, and the
// job they select (one value of job="..." throughout).
const alertRulesFile = "k8s/monitoring/alerts.rules.yaml";
const alertRules = parse(readFileSync(join(k8s, "monitoring/alerts.rules.yaml"), "utf8"), alertRulesFile)[0];
const rulesJobs = new Set([...JSON.stringify(alertRules.groups).matchAll(/job=\\"([^"\\]*)\\"/g)]
    .map((m) => m[1]));
if (rulesJobs.size !== 1) throw new Error(`${alertRulesFile}: expected one job="..." throughout, found ${[...rulesJobs]}`);
const rulesJob = [...rulesJobs][0];

// The first place where two JSON-like values differ, as a path.
function firstDifference(a, b, path = "") {
  if (isDeepStrictEqual(a, b)) return null;
  if (a && b && typeof a === "object" && typeof b === "object" && Array.isArray(a) === Array.isArray(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const d = firstDifference(a[k], b[k], `${path}/${k}`);
      if (d) return d;
    }
  }
  return `${path || "/"}: ${JSON.stringify(a)?.slice(0, 120)} vs ${JSON.stringify(b)?.slice(0, 120)}`;
}

function render(dir) {
  return execFileSync("kubectl", ["kustomize", dir], { encoding: "utf8", maxBuffer: 64 << 20 });
}

function parse(text, source) {
  const objects = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${source}: YAML: ${doc.errors[0].message}`);
    const o = doc.toJS();
    if (o != null) objects.push(o);
  }
  return objects;
}

// 2. The OpenAPI schemas.
function validateSchemas(objects, source, errors) {
  for (const o of objects) {
    const where = `${source}: ${o.kind}/${o.metadata?.name}`;
    const group = groups[o.apiVersion];
    if (group === undefined) {
      errors.push(`${where}: apiVersion ${o.apiVersion} is not one this check knows`);
      continue;
    }
    const [models] = group;
    if (models === null) continue;
    const Model = models[o.kind];
    if (Model === undefined) {
      errors.push(`${where}: unknown kind ${o.kind} in ${o.apiVersion}`);
      continue;
    }
    // kustomize wraps a generated Secret's base64 over lines; the API server's decoder (Go's
    // encoding/json) skips the newlines, the models' "byte" format does not.
    const data = o.kind === "Secret" && o.data
        ? { ...o, data: Object.fromEntries(Object.entries(o.data).map(([k, v]) => [k, v.replace(/\s/g, "")])) }
        : o;
    try {
      new Model(data).validate();
    } catch (e) {
      errors.push(`${where}: schema: ${e.message}`);
    }
  }
}

// 3. TypeScript: every object as a literal of its interface, all renders in one tsc run.
function typeCheck(renders, errors) {
  const dir = mkdtempSync(join(here, ".tscheck-"));
  try {
    const files = [];
    renders.forEach(({ source, objects }, r) => {
      const imports = new Map();
      const lines = [];
      objects.forEach((o, i) => {
        const group = groups[o.apiVersion];
        if (group === undefined) return;
        const module = group[1].startsWith("./") ? "../types.js" : group[1];
        const alias = `${o.kind}_${imports.size}`;
        if (!imports.has(`${module}#${o.kind}`)) imports.set(`${module}#${o.kind}`, alias);
        const name = imports.get(`${module}#${o.kind}`);
        lines.push(`// ${source}: ${o.kind}/${o.metadata?.name}`);
        lines.push(`export const o${i}: ${name} = ${JSON.stringify(o, null, 2)};`);
      });
      const head = [...imports].map(([key, alias]) => {
        const [module, kind] = key.split("#");
        return `import type { I${kind} as ${alias} } from "${module}";`;
      });
      const file = join(dir, `render${r}.ts`);
      writeFileSync(file, [...head, ...lines, ""].join("\n"));
      files.push([file, source]);
    });
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({
      compilerOptions: {
        strict: true, noEmit: true, module: "nodenext", moduleResolution: "nodenext",
        target: "es2022", skipLibCheck: true, types: [],
      },
      files: files.map(([f]) => f),
    }));
    try {
      execFileSync(process.execPath, [join(here, "node_modules/typescript/bin/tsc"), "-p", dir],
                   { encoding: "utf8", stdio: "pipe" });
    } catch (e) {
      const out = `${e.stdout}${e.stderr}`;
      for (const line of out.split("\n").filter((l) => /error TS/.test(l))) {
        const m = /render(\d+)\.ts\((\d+),/.exec(line);
        const [file, source] = m ? files[Number(m[1])] : ["", "tsc"];
        // Name the object: the comment line above its declaration.
        let what = "";
        if (m) {
          const text = readFileSync(file, "utf8").split("\n");
          for (let l = Number(m[2]) - 1; l >= 0; l--) {
            if (text[l].startsWith("// ")) { what = text[l].slice(3); break; }
          }
        }
        errors.push(`${what || source}: type: ${line.replace(/^.*error TS\d+: /, "")}`);
      }
      if (!/error TS/.test(out)) errors.push(`tsc failed: ${out.slice(0, 2000)}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// 4. Policy.
function portOf(address) {
  const m = /:(\d+)$/.exec(address ?? "");
  return m ? Number(m[1]) : null;
}

function checkPolicy(objects, source, errors) {
  const fail = (text) => errors.push(`${source}: policy: ${text}`);
  const byKind = (kind) => objects.filter((o) => o.kind === kind);
  const deployments = byKind("Deployment");
  if (deployments.length !== 1) return fail(`expected one Deployment, found ${deployments.length}`);
  const d = deployments[0];
  const pod = d.spec.template.spec;
  const labels = d.spec.template.metadata?.labels ?? {};
  const selects = (selector) => selector && Object.entries(selector.matchLabels ?? {})
      .every(([k, v]) => labels[k] === v) && Object.keys(selector.matchLabels ?? {}).length > 0;

  // The configuration the pod reads: the ConfigMap mounted at /etc/sasmint.
  const configVolume = pod.volumes.find((v) => v.configMap);
  const configMap = byKind("ConfigMap").find((c) => c.metadata.name === configVolume?.configMap.name);
  if (!configMap) return fail("no ConfigMap holds the configuration the pod mounts");
  const config = JSON.parse(configMap.data["config.json"]);
  const healthPort = portOf(config.health_listen);
  if (healthPort === null) fail("config.json has no health_listen port (probes need a plaintext one)");
  const limits = config.limits ?? {};

  const hpas = byKind("HorizontalPodAutoscaler");
  if (d.spec.replicas !== undefined &&
      hpas.some((h) => h.spec.scaleTargetRef.name === d.metadata.name)) {
    fail("Deployment sets replicas while an HPA scales it (every apply would reset the scale)");
  }
  const ru = d.spec.strategy?.rollingUpdate ?? {};
  if (d.spec.strategy?.type !== "RollingUpdate" || ru.maxUnavailable !== 0 || ru.maxSurge !== 1) {
    fail("strategy must be RollingUpdate with maxUnavailable 0, maxSurge 1");
  }
  const ps = pod.securityContext ?? {};
  if (ps.runAsNonRoot !== true || !(ps.runAsUser > 0) || !(ps.runAsGroup > 0) || !(ps.fsGroup > 0)) {
    fail("pod securityContext must set runAsNonRoot and non-zero runAsUser, runAsGroup, fsGroup");
  }
  if (ps.seccompProfile?.type !== "RuntimeDefault") fail("pod seccompProfile must be RuntimeDefault");
  if (pod.automountServiceAccountToken !== false) fail("automountServiceAccountToken must be false");
  if (pod.enableServiceLinks !== false) fail("enableServiceLinks must be false");
  const sa = byKind("ServiceAccount").find((s) => s.metadata.name === pod.serviceAccountName);
  if (!sa || sa.automountServiceAccountToken !== false) {
    fail("the pod's ServiceAccount must exist with automountServiceAccountToken false");
  }
  const keys = ["topology.kubernetes.io/zone", "kubernetes.io/hostname"];
  for (const key of keys) {
    if (!(pod.topologySpreadConstraints ?? []).some((t) => t.topologyKey === key && selects(t.labelSelector))) {
      fail(`no topology spread over ${key} selecting the pods`);
    }
  }

  for (const c of pod.containers) {
    const sc = c.securityContext ?? {};
    if (sc.readOnlyRootFilesystem !== true) fail(`${c.name}: readOnlyRootFilesystem must be true`);
    if (sc.allowPrivilegeEscalation !== false) fail(`${c.name}: allowPrivilegeEscalation must be false`);
    if (!(sc.capabilities?.drop ?? []).includes("ALL")) fail(`${c.name}: capabilities must drop ALL`);
    if (sc.privileged === true) fail(`${c.name}: must not be privileged`);
    const r = c.resources ?? {};
    if (!r.requests?.cpu || !r.requests?.memory || !r.limits?.memory) {
      fail(`${c.name}: resources need requests.cpu, requests.memory and limits.memory`);
    } else if (String(r.requests.cpu) !== String(r.limits?.cpu) ||
               String(r.requests.memory) !== String(r.limits.memory)) {
      // Guaranteed QoS: the kubelet gives such pods no swap, so key pages never leave RAM.
      fail(`${c.name}: limits must equal requests for cpu and memory (Guaranteed QoS: no swap)`);
    }
    for (const m of c.volumeMounts ?? []) {
      if (m.subPath !== undefined || m.subPathExpr !== undefined) {
        fail(`${c.name}: volume ${m.name} is mounted with subPath (it would never see updates)`);
      }
    }
    const probes = { startupProbe: "liveness", readinessProbe: "sasmint.v1.TokenService",
                     livenessProbe: "liveness" };
    for (const [probe, service] of Object.entries(probes)) {
      const p = c[probe];
      if (!p) { fail(`${c.name}: no ${probe}`); continue; }
      if (!p.grpc) { fail(`${c.name}: ${probe} must be a native gRPC probe`); continue; }
      if (p.grpc.port !== healthPort) {
        fail(`${c.name}: ${probe} port ${p.grpc.port} is not the configuration's health port ${healthPort}`);
      }
      if (p.grpc.service !== service) fail(`${c.name}: ${probe} must check service "${service}"`);
    }
    const startup = c.startupProbe;
    if (startup && startup.periodSeconds * startup.failureThreshold < 120) {
      fail(`${c.name}: startupProbe allows under 2 minutes for the key load`);
    }
    const sleep = c.lifecycle?.preStop?.sleep?.seconds;
    if (!(sleep > 0)) fail(`${c.name}: preStop must sleep (endpoints go away as SIGTERM arrives)`);
    const needed = (sleep ?? 0) + (limits.shutdown_drain_ms ?? 500) / 1000 +
                   (limits.shutdown_grace_seconds ?? 10);
    if (!(pod.terminationGracePeriodSeconds > needed)) {
      fail(`terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} must exceed ` +
           `preStop + drain + grace = ${needed} s`);
    }
    // KeyAdmin: off unless asked for, and then on its own port that only ops may reach.
    const adminFlag = (c.args ?? []).includes("--admin-listen");
    const adminOn = adminFlag || config.admin?.enabled !== false;
    if (adminOn && !adminFlag && !config.admin?.listen) {
      fail("KeyAdmin is on the mint port (set admin.enabled false, or give it its own listener)");
    }
    if (adminOn && !byKind("NetworkPolicy").some((n) => (n.spec.ingress ?? []).some(
        (i) => (i.ports ?? []).some((p) => p.port === "admin") && (i.from ?? []).length > 0))) {
      fail("KeyAdmin is on but no NetworkPolicy limits who reaches its port");
    }
  }
  if (!(limits.max_connection_age_seconds > 0)) {
    fail("limits.max_connection_age_seconds must be set (clients re-resolve and reach new pods)");
  }

  const pdb = byKind("PodDisruptionBudget").find((p) => selects(p.spec.selector));
  if (!pdb) {
    fail("no PodDisruptionBudget selects the pods");
  } else {
    if (pdb.spec.maxUnavailable !== 1) fail("PodDisruptionBudget maxUnavailable must be 1");
    if (pdb.spec.unhealthyPodEvictionPolicy !== "AlwaysAllow") {
      fail("PodDisruptionBudget unhealthyPodEvictionPolicy must be AlwaysAllow");
    }
  }
  const hpa = hpas.find((h) => h.spec.scaleTargetRef.name === d.metadata.name);
  if (!hpa) {
    fail("no HorizontalPodAutoscaler targets the Deployment");
  } else {
    if (!(hpa.spec.minReplicas >= 2)) fail("HPA minReplicas must be at least 2 (one may be drained)");
    if (!(hpa.spec.behavior?.scaleDown?.stabilizationWindowSeconds > 0)) {
      fail("HPA needs a scale-down stabilization window");
    }
  }
  const policies = byKind("NetworkPolicy");
  if (!policies.some((n) => Object.keys(n.spec.podSelector ?? {}).length === 0 &&
                            (n.spec.policyTypes ?? []).includes("Ingress") && !n.spec.ingress)) {
    fail("no default-deny NetworkPolicy");
  }
  if (!policies.some((n) => selects(n.spec.podSelector) && (n.spec.ingress ?? []).some(
      (i) => (i.ports ?? []).some((p) => p.port === "grpc") && (i.from ?? []).length > 0))) {
    fail("no NetworkPolicy lets selected gateways reach the mint port");
  }
  // A peer selector that asks for sasmint's own app label admits only sasmint's pods: the
  // gateways (or ops) it was written for could never connect.
  for (const n of policies) {
    for (const i of n.spec.ingress ?? []) {
      for (const peer of i.from ?? []) {
        if (peer.podSelector?.matchLabels?.["app.kubernetes.io/name"] === labels["app.kubernetes.io/name"]) {
          fail(`NetworkPolicy ${n.metadata.name}: a from.podSelector requires sasmint's own label ` +
               "app.kubernetes.io/name: it admits only sasmint pods");
        }
      }
    }
  }
  for (const t of pod.topologySpreadConstraints ?? []) {
    if (t.topologyKey === "kubernetes.io/hostname" && t.whenUnsatisfiable === "DoNotSchedule") {
      fail("a hard per-node spread caps the autoscaler at the node count and can block drains");
    }
  }
  if (!policies.some((n) => selects(n.spec.podSelector) && (n.spec.ingress ?? []).some(
      (i) => (i.ports ?? []).some((p) => p.port === "health" || p.port === healthPort)))) {
    fail("no NetworkPolicy lets probes reach the health port");
  }
  const services = byKind("Service");
  if (!services.some((s) => s.spec.clusterIP === "None" && Object.entries(s.spec.selector ?? {})
      .every(([k, v]) => labels[k] === v))) {
    fail("no headless Service (dns:/// with round_robin needs every pod's address)");
  }

  // Metrics: the configuration's port, named `metrics` on the container and on the ClusterIP
  // Service (whose targetPort names it), open to no one but selected peers (it is plaintext).
  const metricsPort = portOf(config.metrics_listen);
  const monitors = byKind("ServiceMonitor");
  const main = pod.containers.find((c) => c.name === "sasmint") ?? pod.containers[0];
  if (metricsPort !== null) {
    const port = (main.ports ?? []).find((p) => p.name === "metrics");
    if (!port) {
      fail(`config.json serves metrics on ${metricsPort} but container ${main.name} has no port named metrics`);
    } else if (port.containerPort !== metricsPort) {
      fail(`container port metrics is ${port.containerPort}, config.json's metrics_listen port ${metricsPort}`);
    }
    const clusterIPs = services.filter((s) => s.spec.clusterIP !== "None" &&
        Object.keys(s.spec.selector ?? {}).length > 0 &&
        Object.entries(s.spec.selector).every(([k, v]) => labels[k] === v));
    if (!clusterIPs.some((s) => (s.spec.ports ?? []).some(
        (p) => p.name === "metrics" && p.targetPort === "metrics"))) {
      fail("no port named metrics (targetPort metrics) on the ClusterIP Service");
    }
  } else if (monitors.length > 0) {
    fail("a ServiceMonitor scrapes sasmint but config.json has no metrics_listen");
  }
  const coversMetrics = (i) => !i.ports || i.ports.length === 0 ||
      i.ports.some((p) => p.port === "metrics" || (metricsPort !== null && p.port === metricsPort));
  for (const n of policies) {
    if (!(Object.keys(n.spec.podSelector ?? {}).length === 0 || selects(n.spec.podSelector))) continue;
    for (const i of n.spec.ingress ?? []) {
      if (coversMetrics(i) && (i.from ?? []).length === 0) {
        fail(`NetworkPolicy ${n.metadata.name}: the metrics port is open to every peer (plaintext: admit Prometheus only)`);
      }
    }
  }
  if (monitors.length > 0 && !policies.some((n) => selects(n.spec.podSelector) && (n.spec.ingress ?? [])
      .some((i) => coversMetrics(i) && (i.from ?? []).length > 0))) {
    fail("a ServiceMonitor scrapes sasmint but no NetworkPolicy lets Prometheus reach the metrics port");
  }
  // The ServiceMonitor: its port a port of exactly one Service it selects (the container's
  // metrics port), and the job the alert rules select.
  for (const m of monitors) {
    const where = `ServiceMonitor ${m.metadata.name}`;
    const wanted = m.spec.selector?.matchLabels ?? {};
    const chosen = services.filter((s) => Object.keys(wanted).length > 0 &&
        Object.entries(wanted).every(([k, v]) => s.metadata.labels?.[k] === v));
    if (chosen.length === 0) { fail(`${where}: selects no Service`); continue; }
    for (const e of m.spec.endpoints ?? []) {
      if (!e.port) { fail(`${where}: an endpoint names no port (name the Service's metrics port)`); continue; }
      const having = chosen.filter((s) => (s.spec.ports ?? []).some((p) => p.name === e.port));
      if (having.length === 0) {
        fail(`${where}: endpoint port ${e.port} is no port of the Services it selects ` +
             `(${chosen.map((s) => s.metadata.name).join(", ")})`);
        continue;
      }
      if (having.length > 1) {
        fail(`${where}: port ${e.port} is on ${having.length} selected Services: each pod would be scraped ${having.length} times`);
      }
      const sp = having[0].spec.ports.find((p) => p.name === e.port);
      if (sp.targetPort !== "metrics") {
        fail(`${where}: port ${e.port} of Service ${having[0].metadata.name} is not the container's metrics port`);
      }
      const relabel = (e.relabelings ?? []).find((r) => r.targetLabel === "job");
      const job = relabel ? relabel.replacement
          : m.spec.jobLabel ? having[0].metadata.labels?.[m.spec.jobLabel] : having[0].metadata.name;
      if (job !== rulesJob) {
        fail(`${where}: gives job="${job}", the alert rules select job="${rulesJob}" (${alertRulesFile})`);
      }
    }
  }
  for (const r of byKind("PrometheusRule")) {
    const d = firstDifference(r.spec?.groups, alertRules.groups);
    if (d) {
      fail(`PrometheusRule ${r.metadata.name}: spec.groups differ from ${alertRulesFile} at ${d} ` +
           "(regenerate: components/monitoring/prometheusrule.yaml says how)");
    }
  }
}

function checkRender(source, objects) {
  const errors = [];
  validateSchemas(objects, source, errors);
  checkPolicy(objects, source, errors);
  return errors;
}

function main() {
  const renders = [];
  const dirs = ["base", ...readdirSync(join(k8s, "overlays")).map((o) => `overlays/${o}`)];
  for (const dir of dirs) renders.push({ source: dir, objects: parse(render(join(k8s, dir)), dir) });
  // Every component over the base, so that components no overlay uses are rendered too.
  // Inside k8s/tests: kustomize takes relative paths only.
  const scratch = mkdtempSync(join(here, ".render-"));
  try {
    for (const component of readdirSync(join(k8s, "components"))) {
      const dir = join(scratch, component);
      execFileSync("mkdir", ["-p", dir]);
      writeFileSync(join(dir, "kustomization.yaml"), [
        "apiVersion: kustomize.config.k8s.io/v1beta1", "kind: Kustomization",
        `resources: [${relative(dir, join(k8s, "base"))}]`,
        `components: [${relative(dir, join(k8s, "components", component))}]`, ""].join("\n"));
      const source = `base+components/${component}`;
      renders.push({ source, objects: parse(render(dir), source) });
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }

  const errors = [];
  for (const { source, objects } of renders) errors.push(...checkRender(source, objects));
  typeCheck(renders, errors);
  const count = renders.reduce((n, r) => n + r.objects.length, 0);
  if (errors.length > 0) {
    for (const e of errors) console.error(e);
    console.error(`k8s: ${errors.length} problems in ${renders.length} renders`);
    process.exit(1);
  }
  console.log(`k8s: ${renders.length} renders, ${count} objects: schemas, types and policy OK`);

  // The fixtures: the base with one defect each; each must be refused with its message.
  const fixtures = join(here, "fixtures");
  let checked = 0;
  for (const name of readdirSync(fixtures).sort()) {
    const dir = join(fixtures, name);
    const expect = /^# expect: (.*)$/m.exec(readFileSync(join(dir, "kustomization.yaml"), "utf8"))?.[1];
    if (!expect) throw new Error(`fixtures/${name}: no "# expect:" line`);
    const source = `fixtures/${name}`;
    const objects = parse(render(dir), source);
    const found = checkRender(source, objects);
    typeCheck([{ source, objects }], found);
    if (!found.some((e) => e.includes(expect))) {
      console.error(`${source}: expected a problem containing "${expect}"; got:\n  ${found.join("\n  ") || "none"}`);
      process.exit(1);
    }
    if (process.env.VERBOSE) console.log(`${source}:\n  ${found.join("\n  ")}`);
    checked++;
  }
  console.log(`k8s: ${checked} broken fixtures each refused with the expected problem`);
}

if (!existsSync(join(here, "node_modules"))) {
  console.error("k8s: run `npm ci` in k8s/tests first");
  process.exit(2);
}
main();
