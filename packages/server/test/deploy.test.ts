/**
 * The deployment files (Dockerfile, deploy/compose.yaml, deploy/prometheus, deploy/grafana,
 * deploy/k8s) agree with the server: every variable they set is one the server reads, ports and
 * probe paths are the services' own, commands are services, alerts and the dashboard use only the
 * metric names listed in docs/deploy.md. No Docker engine is needed: the image's entry point is
 * checked by running the Dockerfile's own `pnpm deploy` line into a temporary directory and
 * starting the bin from there. Needs the repository built (the test command builds first); needs
 * no PostgreSQL, Redis or RabbitMQ.
 */
import { execFile, spawn } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, posix } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { Api } from "@invkit/sdk"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import { afterAll, describe, expect, it } from "vitest"
import { parseAllDocuments } from "yaml"
import { defaultPorts, environmentVariables, type Service, serverConfig, services } from "../src/config.js"
import { routeTemplates } from "../src/infra/metrics.js"
import { freePort, waitUntilAnswering } from "./utils.js"

const run = promisify(execFile)

const root = fileURLToPath(new URL("../../../", import.meta.url))
const deployDir = join(root, "deploy")
const read = (...path: ReadonlyArray<string>) => readFileSync(join(root, ...path), "utf8")

type Json = any

/** Every document of a YAML file, as plain values; `<<` merge keys applied (compose uses them). */
const yamlDocuments = (...path: ReadonlyArray<string>): ReadonlyArray<Json> =>
  parseAllDocuments(read(...path), { merge: true }).map((document) => {
    expect(document.errors, `${path.join("/")}: ${document.errors.join("; ")}`).toEqual([])
    return document.toJS()
  })
const yamlFile = (...path: ReadonlyArray<string>): Json => {
  const documents = yamlDocuments(...path)
  expect(documents).toHaveLength(1)
  return documents[0]
}

const yamlFilesUnder = (dir: string): ReadonlyArray<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? yamlFilesUnder(join(dir, entry.name))
      : /\.ya?ml$/.test(entry.name)
        ? [join(dir, entry.name)]
        : []
  )

const serviceNames: ReadonlyArray<string> = services
const workerServices = services.filter((service) => service !== "all")

/** A variable the server reads, or a standard OpenTelemetry one (read by the tracing setup). */
const isServerVariable = (name: string) =>
  (environmentVariables as ReadonlyArray<string>).includes(name) || name.startsWith("OTEL_")

/** The variables `${NAME}`, `${NAME:-x}`, `${NAME:?x}` interpolated in a compose value. */
const interpolated = (value: unknown): ReadonlyArray<string> =>
  typeof value === "string" ? [...value.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!) : []

/**
 * The metric names the deploy files rely on (docs/deploy.md lists them): the server's, and
 * Prometheus' own `up`. Histograms also have their `_bucket`, `_sum` and `_count` series.
 */
const counters = [
  "http_requests_total",
  "inv_stock_changes_total",
  "inv_events_consumed_total",
  "inv_events_redelivered_total",
  "inv_events_dead_lettered_total",
  "inv_cache_requests_total",
  "inv_sync_runs_total",
  "inv_jobs_failed_total"
]
const gauges = [
  "inv_outbox_pending",
  "inv_outbox_publish_lag_seconds",
  "inv_dead_letter_queue_messages",
  "inv_jobs_queued",
  "inv_ready",
  "up"
]
const histograms = ["http_request_duration_seconds", "inv_sync_duration_seconds"]
const knownSeries = new Set([
  ...counters,
  ...gauges,
  ...histograms.flatMap((name) => ["_bucket", "_sum", "_count"].map((suffix) => name + suffix))
])

const promqlWords = new Set(["by", "without", "on", "ignoring", "group_left", "group_right"])
const promqlOperators = new Set(["and", "or", "unless", "offset", "bool", "inf", "nan"])

/**
 * The metric names a PromQL expression reads: its identifiers, less strings, label matchers,
 * ranges, label lists (`by (…)`), Grafana variables, function names and operators.
 */
const metricsIn = (expr: string): ReadonlyArray<string> => {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(new RegExp(`\\b(?:${[...promqlWords].join("|")})\\s*\\([^)]*\\)`, "g"), " ")
    .replace(/\$\{?\w+\}?/g, " ")
  return [...stripped.matchAll(/[A-Za-z_:][\w:]*/g)]
    .filter((match) => !/^\s*\(/.test(stripped.slice(match.index! + match[0].length)))
    .map((match) => match[0])
    .filter((name) => !promqlOperators.has(name.toLowerCase()))
}

// ---- the Dockerfile ----

interface Instruction {
  readonly keyword: string
  readonly args: string
  readonly stage: number
}

/** The Dockerfile's instructions, continuation lines joined, comments dropped, numbered by stage. */
const dockerfile = (): ReadonlyArray<Instruction> => {
  const lines = read("Dockerfile")
    .split("\n")
    .filter((line) => !line.trimStart().startsWith("#"))
    .join("\n")
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "")
  let stage = -1
  return lines.map((line) => {
    const [, keyword = "", args = ""] = /^(\w+)\s+(.*)$/.exec(line) ?? []
    if (keyword.toUpperCase() === "FROM") stage++
    return { keyword: keyword.toUpperCase(), args, stage }
  })
}

/** INV_MAX_BODY_BYTES' default, as the server reads it with nothing set. */
const defaultMaxBodyBytes = Effect.runSync(
  Effect.withConfigProvider(serverConfig("all"), ConfigProvider.fromMap(new Map([["INV_AUTH", "off"]])))
).limits.maxBodyBytes

/** Each service's routes of the contract (its own HttpApi), with a path of each to send. */
const serviceRoutes = (
  [
    ["stock-updater", Api.StockUpdaterApi],
    ["stock-checker", Api.StockCheckerApi],
    ["supplier-sync", Api.SupplierSyncApi]
  ] as const
).flatMap(([service, api]) =>
  routeTemplates(api)
    .filter((route) => route.endpoint !== undefined)
    .map((route) => ({ service, method: route.method, path: route.template.replace(/:[A-Za-z]+/g, "SKU-1") }))
)

const packageJson = JSON.parse(read("packages", "server", "package.json"))
const pnpmVersion = /^pnpm@(.+)$/.exec(JSON.parse(read("package.json")).packageManager)![1]!

describe("deploy files", () => {
  it("every YAML file under deploy/ parses, and the dashboard is JSON", () => {
    const files = yamlFilesUnder(deployDir)
    expect(files.length).toBeGreaterThanOrEqual(10)
    for (const file of files) {
      for (const document of parseAllDocuments(readFileSync(file, "utf8"), { merge: true })) {
        expect(document.errors, `${file}: ${document.errors.join("; ")}`).toEqual([])
      }
    }
    expect(() => JSON.parse(read("deploy", "grafana", "dashboards", "invkit.json"))).not.toThrow()
  })

  describe("Dockerfile", () => {
    const instructions = dockerfile()
    const finalStage = Math.max(...instructions.map((instruction) => instruction.stage))
    const last = (keyword: string) =>
      instructions.filter((i) => i.keyword === keyword && i.stage === finalStage).at(-1)?.args

    it("builds on node 20 and runs on node 20 slim as a non-root user", () => {
      const from = instructions.filter((i) => i.keyword === "FROM").map((i) => i.args)
      expect(from[0]).toMatch(/^node:\$\{NODE_VERSION\} AS build$/)
      expect(from.at(-1)).toMatch(/^node:\$\{NODE_VERSION\}-slim\b/)
      expect(instructions.find((i) => i.keyword === "ARG")?.args).toBe("NODE_VERSION=20")
      const user = last("USER")
      expect(user).toBeDefined()
      expect(user!.split(":")[0]).not.toMatch(/^(0|root)$/)
      // Numeric, so Kubernetes' runAsNonRoot can check it (the k8s files say 1000 too).
      expect(user).toBe("1000:1000")
      // The pnpm of package.json's packageManager.
      expect(instructions.some((i) => i.keyword === "RUN" && i.args.includes(`pnpm@${pnpmVersion}`))).toBe(
        true
      )
    })

    it("has the package's bin as ENTRYPOINT, a service as CMD and a HEALTHCHECK on /health", () => {
      const workdir = last("WORKDIR")!
      const entrypoint = JSON.parse(last("ENTRYPOINT")!)
      expect(entrypoint[0]).toBe("node")
      expect(posix.relative(workdir, posix.resolve(workdir, entrypoint[1]))).toBe(
        posix.normalize(packageJson.bin["inv-server"])
      )
      expect(entrypoint).toHaveLength(2)
      const cmd = JSON.parse(last("CMD")!)
      expect(cmd).toEqual(["all"])
      const healthcheck = last("HEALTHCHECK")!
      expect(healthcheck).toMatch(/CMD node -e /)
      expect(healthcheck).toContain("/health'")
      expect(healthcheck).not.toMatch(/curl|wget/)
      // Without PORT, the default port of the service PID 1 runs.
      for (const service of workerServices)
        expect(healthcheck).toContain(`'${service}': ${defaultPorts[service]}`)
      expect(healthcheck).toContain(`|| ${defaultPorts.all}`)
      const exposed = last("EXPOSE")!.split(/\s+/).map(Number)
      expect(exposed.sort()).toEqual(Object.values(defaultPorts).sort())
    })

    it("keeps node_modules, dist and local secrets out of the build context", () => {
      const ignored = read(".dockerignore").split("\n")
      for (const pattern of ["**/node_modules", "**/dist", ".git", "**/.env"])
        expect(ignored).toContain(pattern)
    })
  })

  describe("compose", () => {
    const compose = yamlFile("deploy", "compose.yaml")
    const invkit = Object.entries<Json>(compose.services).filter(([, s]) => s.image === "invkit-server:local")

    it("runs the three services, a second supplier-sync worker, and infrastructure they wait for", () => {
      expect(invkit.map(([name]) => name).sort()).toEqual([
        "stock-checker",
        "stock-updater",
        "supplier-sync",
        "supplier-sync-2"
      ])
      for (const [name, service] of invkit) {
        expect(service.build, name).toEqual({ context: "..", dockerfile: "Dockerfile" })
        expect(serviceNames, name).toContain(service.command[0])
        expect(service.command, name).toHaveLength(1)
        for (const dependency of ["postgres", "rabbitmq", "redis"]) {
          expect(service.depends_on[dependency], `${name} → ${dependency}`).toEqual({
            condition: "service_healthy"
          })
          expect(compose.services[dependency].healthcheck, dependency).toBeDefined()
        }
        expect(service.healthcheck.test.join(" "), name).toContain("/health")
      }
      expect(compose.services.prometheus).toBeDefined()
      expect(compose.services.grafana.depends_on.prometheus).toEqual({ condition: "service_healthy" })
    })

    it("sets only variables the server reads, on each service's own port, and no secret", () => {
      for (const [name, service] of invkit) {
        const environment: Record<string, unknown> = service.environment
        for (const [variable, value] of Object.entries(environment)) {
          expect(isServerVariable(variable), `${name}: ${variable}`).toBe(true)
          for (const used of interpolated(value))
            expect(isServerVariable(used), `${name}: \${${used}}`).toBe(true)
        }
        const command = service.command[0] as Service
        expect(environment.PORT, name).toBe(String(defaultPorts[command]))
        for (const published of service.ports ?? []) {
          expect(String(published).split(":").at(-1), name).toBe(String(defaultPorts[command]))
        }
        for (const required of ["INV_DATABASE_URL", "INV_RABBITMQ_URL", "INV_REDIS_URL", "INV_JWT_SECRET"]) {
          expect(environment[required], `${name}: ${required}`).toBeTruthy()
        }
        // The JWT secret comes from the environment or deploy/.env, compose refusing without it.
        expect(environment.INV_JWT_SECRET).toMatch(/^\$\{INV_JWT_SECRET:\?[^}]+\}$/)
        // Shorter than the server's grace: the process ends its own shutdown before the kill.
        expect(Number.parseInt(service.stop_grace_period, 10)).toBeGreaterThan(
          Number(environment.INV_SHUTDOWN_TIMEOUT)
        )
      }
    })

    it("Prometheus scrapes each invkit container on its port and loads the alert rules", () => {
      const prometheus = yamlFile("deploy", "prometheus", "prometheus.yml")
      expect(prometheus.rule_files).toEqual(["/etc/prometheus/alerts.yml"])
      expect(compose.services.prometheus.volumes).toContain("./prometheus:/etc/prometheus:ro")
      const job = prometheus.scrape_configs.find((c: Json) => c.job_name === "invkit")
      const targets: Array<string> = job.static_configs.flatMap((c: Json) => c.targets)
      expect(targets.map((t) => t.split(":")[0]).sort()).toEqual(invkit.map(([name]) => name).sort())
      for (const target of targets) {
        const [host, port] = target.split(":")
        expect(compose.services[host!].environment.PORT, target).toBe(port)
      }
      expect(job.metrics_path).toBe("/metrics")
    })

    it("Grafana gets the Prometheus datasource and the dashboard folder compose mounts", () => {
      const datasource = yamlFile("deploy", "grafana", "provisioning", "datasources", "prometheus.yml")
      const provider = yamlFile("deploy", "grafana", "provisioning", "dashboards", "invkit.yml")
      const mounts: Array<string> = compose.services.grafana.volumes
      expect(mounts).toContain("./grafana/provisioning:/etc/grafana/provisioning:ro")
      expect(mounts).toContain(`./grafana/dashboards:${provider.providers[0].options.path}:ro`)
      expect(datasource.datasources[0]).toMatchObject({ type: "prometheus", url: "http://prometheus:9090" })
      const dashboard = JSON.parse(read("deploy", "grafana", "dashboards", "invkit.json"))
      const uids = new Set(
        dashboard.panels.flatMap((p: Json) => [
          p.datasource?.uid,
          ...(p.targets ?? []).map((t: Json) => t.datasource?.uid)
        ])
      )
      uids.delete(undefined)
      expect([...uids]).toEqual([datasource.datasources[0].uid])
    })
  })

  describe("the gateway (deploy/gateway/nginx.conf; gateway.test.ts runs it)", () => {
    const config = read("deploy", "gateway", "nginx.conf")

    it("sends to the services by the names and ports compose and Kubernetes give them", () => {
      const upstreams = [...config.matchAll(/^\s*server ([\w-]+):(\d+);/gm)].map(([, host, port]) => [
        host,
        Number(port)
      ])
      expect(upstreams).toEqual(workerServices.map((service) => [service, defaultPorts[service]]))
      const compose = yamlFile("deploy", "compose.yaml")
      const gateway = compose.services.gateway
      expect(gateway.volumes).toEqual(["./gateway/nginx.conf:/etc/nginx/nginx.conf:ro"])
      expect(gateway.ports).toEqual([`${defaultPorts.all}:${/listen (\d+);/.exec(config)![1]}`])
      for (const service of workerServices)
        expect(gateway.depends_on[service], service).toEqual({ condition: "service_healthy" })
    })

    it("takes the bodies the server takes and answers a larger one as the server does", () => {
      expect(/client_max_body_size (\d+)m;/.exec(config)?.[1]).toBe(String(defaultMaxBodyBytes / 1024 / 1024))
      const tooLarge = /return 413 '(.*)';/.exec(config)![1]!
      expect(JSON.parse(tooLarge)).toMatchObject({ _tag: "RequestTooLarge", limitBytes: defaultMaxBodyBytes })
    })
  })

  describe("metrics", () => {
    it("reads PromQL identifiers as metric names", () => {
      expect(
        metricsIn(
          'histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket{service=~"$service"}[$__rate_interval])))'
        )
      ).toEqual(["http_request_duration_seconds_bucket"])
      expect(metricsIn('up{job="invkit"} == 0 and on (instance) inv_ready == 0')).toEqual(["up", "inv_ready"])
    })

    it("the dashboard's expressions use only the listed metric names, and show the main figures", () => {
      const dashboard = JSON.parse(read("deploy", "grafana", "dashboards", "invkit.json"))
      const exprs: Array<string> = dashboard.panels.flatMap((p: Json) =>
        (p.targets ?? []).map((t: Json) => t.expr)
      )
      expect(exprs.length).toBeGreaterThan(15)
      const used = new Set(exprs.flatMap((expr) => metricsIn(expr)))
      for (const name of used) expect(knownSeries.has(name), name).toBe(true)
      for (const name of [...counters, ...gauges]) expect(used.has(name), name).toBe(true)
      for (const name of histograms) expect(used.has(`${name}_bucket`), name).toBe(true)
      const all = exprs.join("\n")
      expect(all).toContain("histogram_quantile(0.5, sum by (le, route)")
      expect(all).toContain("histogram_quantile(0.99, sum by (le, route)")
      const ids = dashboard.panels.map((p: Json) => p.id)
      expect(new Set(ids).size).toBe(ids.length)
    })

    it("alerts.yml alerts on outbox lag, dead letters, failed syncs and services not ready", () => {
      const alerts = yamlFile("deploy", "prometheus", "alerts.yml")
      const rules: Array<Json> = alerts.groups.flatMap((g: Json) => g.rules)
      for (const rule of rules) {
        expect(rule.alert, JSON.stringify(rule)).toMatch(/^Invkit[A-Za-z]+$/)
        expect(rule.labels.severity, rule.alert).toMatch(/^(warning|critical)$/)
        expect(rule.annotations.summary, rule.alert).toBeTruthy()
        for (const name of metricsIn(rule.expr))
          expect(knownSeries.has(name), `${rule.alert}: ${name}`).toBe(true)
      }
      expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length)
      const exprs = rules.map((rule) => rule.expr.replace(/\s+/g, " ").trim())
      const some = (pattern: RegExp) =>
        expect(
          exprs.some((expr) => pattern.test(expr)),
          String(pattern)
        ).toBe(true)
      // outbox lag
      some(/inv_outbox_pending\b/)
      some(/inv_outbox_publish_lag_seconds\b/)
      // dead letters
      some(/increase\(inv_events_dead_lettered_total\[/)
      some(/inv_dead_letter_queue_messages\b.*> 0/)
      // failed syncs
      some(/increase\(inv_sync_runs_total\{status="failed"\}\[/)
      // not ready
      some(/^up\{[^}]*\} == 0$/)
      some(/^inv_ready == 0$/)
    })
  })

  describe("k8s", () => {
    const kustomization = yamlFile("deploy", "k8s", "kustomization.yaml")
    const k8sDir = join(deployDir, "k8s")
    const resources: Array<Json> = (kustomization.resources as Array<string>).flatMap((file) =>
      yamlDocuments("deploy", "k8s", file)
    )
    const ofKind = (kind: string) => resources.filter((r) => r.kind === kind)
    const configMap = ofKind("ConfigMap")[0]
    const secretGenerator = kustomization.secretGenerator[0]
    const secretKeys = (secretGenerator.envs as Array<string>).flatMap((file) =>
      read("deploy", "k8s", file)
        .split("\n")
        .filter((line) => line.trim() !== "" && !line.trimStart().startsWith("#"))
        .map((line) => line.split("=")[0]!.trim())
    )

    it("the kustomization lists every manifest, and they exist", () => {
      const manifests = readdirSync(k8sDir).filter((f) => /\.ya?ml$/.test(f) && f !== "kustomization.yaml")
      expect([...kustomization.resources].sort()).toEqual(manifests.sort())
      for (const file of secretGenerator.envs) expect(existsSync(join(k8sDir, file)), file).toBe(true)
      expect(ofKind("Secret"), "secrets come from the generator's placeholders only").toEqual([])
    })

    it("the ConfigMap and the Secret hold only variables the server reads; the Secret only placeholders", () => {
      for (const name of Object.keys(configMap.data)) expect(isServerVariable(name), name).toBe(true)
      expect(secretKeys.sort()).toEqual([
        "INV_DATABASE_URL",
        "INV_JWT_SECRET",
        "INV_RABBITMQ_URL",
        "INV_REDIS_URL"
      ])
      const secretText = (secretGenerator.envs as Array<string>)
        .map((f: string) => read("deploy", "k8s", f))
        .join()
      expect(secretText).toContain("PLACEHOLDERS")
      // Shorter than the 32 characters the server needs: a forgotten placeholder stops the rollout.
      const jwt = /^INV_JWT_SECRET=(.*)$/m.exec(secretText)![1]!
      expect(jwt).toMatch(/REPLACE_ME/)
      expect(jwt.length).toBeLessThan(32)
      for (const name of Object.keys(configMap.data)) expect(secretKeys, name).not.toContain(name)
    })

    it("one Deployment, Service and PodDisruptionBudget per service, on its port, probes and user", () => {
      const deployments = ofKind("Deployment")
      expect(deployments.map((d) => d.metadata.name).sort()).toEqual([...workerServices].sort())
      for (const deployment of deployments) {
        const name: Service = deployment.metadata.name
        const port = defaultPorts[name]
        const pod = deployment.spec.template.spec
        expect(pod.containers).toHaveLength(1)
        const container = pod.containers[0]
        expect(container.image, name).toBe(kustomization.images[0].name)
        expect(container.args, name).toEqual([name])
        expect(serviceNames).toContain(container.args[0])
        expect(container.command, "the image's ENTRYPOINT runs").toBeUndefined()
        expect(container.ports, name).toEqual([{ name: "http", containerPort: port }])
        const env = Object.fromEntries(container.env.map((e: Json) => [e.name, e.value]))
        for (const variable of Object.keys(env))
          expect(isServerVariable(variable), `${name}: ${variable}`).toBe(true)
        expect(env.PORT, name).toBe(String(port))
        expect(container.envFrom, name).toEqual([
          { configMapRef: { name: configMap.metadata.name } },
          { secretRef: { name: secretGenerator.name } }
        ])
        expect(container.livenessProbe.httpGet, name).toEqual({ path: "/health", port })
        expect(container.startupProbe.httpGet, name).toEqual({ path: "/health", port })
        expect(container.readinessProbe.httpGet, name).toEqual({ path: "/ready", port })
        for (const kind of ["requests", "limits"]) {
          expect(container.resources[kind].cpu, `${name} ${kind}`).toBeTruthy()
          expect(container.resources[kind].memory, `${name} ${kind}`).toBeTruthy()
        }
        expect(pod.securityContext.runAsNonRoot, name).toBe(true)
        expect(pod.securityContext.runAsUser, name).toBe(1000)
        expect(container.securityContext.allowPrivilegeEscalation, name).toBe(false)
        // The server's own shutdown (plus the preStop pause) ends before the kubelet's kill.
        const preStop = container.lifecycle?.preStop?.exec?.command ?? []
        const pause = preStop[0] === "sleep" ? Number(preStop[1]) : 0
        expect(pod.terminationGracePeriodSeconds, name).toBeGreaterThan(
          Number(configMap.data.INV_SHUTDOWN_TIMEOUT) + pause
        )

        const labels = deployment.spec.selector.matchLabels
        expect(deployment.spec.template.metadata.labels).toMatchObject(labels)
        expect(deployment.spec.template.metadata.annotations["prometheus.io/port"]).toBe(String(port))
        const service = ofKind("Service").find((s) => s.metadata.name === name)
        expect(service?.spec.selector, name).toEqual(labels)
        expect(service?.spec.ports, name).toEqual([{ name: "http", port, targetPort: "http" }])
        const budget = ofKind("PodDisruptionBudget").find((b) => b.metadata.name === name)
        expect(budget?.apiVersion, name).toBe("policy/v1")
        expect(budget?.spec.selector.matchLabels, name).toEqual(labels)
        expect(budget?.spec.minAvailable, name).toBeLessThan(deployment.spec.replicas)
      }
    })

    it("the Ingress sends every route of the contract to the service that serves it, with the body limit", () => {
      const [ingress, ...others] = ofKind("Ingress")
      expect(others).toEqual([])
      expect(ingress.apiVersion).toBe("networking.k8s.io/v1")
      const annotations = ingress.metadata.annotations
      expect(annotations["nginx.ingress.kubernetes.io/use-regex"]).toBe("true")
      expect(annotations["nginx.ingress.kubernetes.io/proxy-body-size"]).toBe(
        `${defaultMaxBodyBytes / 1024 / 1024}m`
      )
      const paths: Array<Json> = ingress.spec.rules.flatMap((rule: Json) => rule.http.paths)
      for (const { backend } of paths) {
        const service = ofKind("Service").find((s) => s.metadata.name === backend.service.name)
        expect(service, backend.service.name).toBeDefined()
        expect(service.spec.ports.map((port: Json) => port.name)).toContain(backend.service.port.name)
      }
      // As ingress-nginx matches with use-regex: longest path first, a case-insensitive regular
      // expression from the start of the path.
      const ordered = [...paths].sort((a, b) => b.path.length - a.path.length)
      const routedTo = (path: string) =>
        ordered.find((candidate) => new RegExp(`^${candidate.path}`, "i").test(path))?.backend.service.name
      expect(serviceRoutes.length).toBeGreaterThan(25)
      // A route several services serve (a reservation's reads) may go to any of them.
      const servers = (route: (typeof serviceRoutes)[number]) =>
        serviceRoutes
          .filter((other) => other.method === route.method && other.path === route.path)
          .map((other) => other.service)
      for (const route of serviceRoutes)
        expect(servers(route), `${route.method} ${route.path}`).toContain(routedTo(route.path))
    })

    it("stock-checker and stock-updater scale with a HorizontalPodAutoscaler", () => {
      const autoscalers = ofKind("HorizontalPodAutoscaler")
      expect(autoscalers.map((a) => a.spec.scaleTargetRef.name).sort()).toEqual([
        "stock-checker",
        "stock-updater"
      ])
      for (const autoscaler of autoscalers) {
        expect(autoscaler.apiVersion).toBe("autoscaling/v2")
        expect(autoscaler.spec.scaleTargetRef.kind).toBe("Deployment")
        expect(autoscaler.spec.minReplicas).toBeGreaterThanOrEqual(2)
        expect(autoscaler.spec.maxReplicas).toBeGreaterThan(autoscaler.spec.minReplicas)
      }
    })
  })

  describe("the image's entry point", () => {
    const temporary: Array<string> = []
    afterAll(() => {
      for (const dir of temporary) rmSync(dir, { recursive: true, force: true })
    })

    it("runs from the Dockerfile's pnpm deploy output: --help, then `all` serves /health and /ready and stops on SIGTERM", async () => {
      const instructions = dockerfile()
      const deployLine = instructions.find((i) => i.keyword === "RUN" && /^pnpm .*\bdeploy\b/.test(i.args))!
      expect(deployLine, "a `RUN pnpm … deploy … <dir>` line").toBeDefined()
      // Run as written: no quoting to interpret, the output directory last and copied into the image.
      expect(deployLine.args).not.toMatch(/["'$\\]/)
      const args = deployLine.args.split(/\s+/)
      const outDir = args.at(-1)!
      expect(
        instructions.some((i) => i.keyword === "COPY" && new RegExp(`^--from=build ${outDir} `).test(i.args))
      ).toBe(true)

      const out = mkdtempSync(join(tmpdir(), "inv-deploy-"))
      const home = mkdtempSync(join(tmpdir(), "inv-deploy-home-"))
      temporary.push(out, home)
      rmSync(out, { recursive: true })
      await run("npx", ["-y", `pnpm@${pnpmVersion}`, ...args.slice(1, -1), out], {
        cwd: root,
        timeout: 60_000
      })
      // Self-contained: the SDK is copied in, not linked back into the workspace.
      expect(realpathSync(join(out, "node_modules", "@invkit", "sdk")).startsWith(realpathSync(out))).toBe(
        true
      )
      expect(existsSync(join(out, packageJson.bin["inv-server"]))).toBe(true)
      const bin = join(out, packageJson.bin["inv-server"])

      const help = await run(process.execPath, [bin, "--help"], {
        cwd: out,
        env: { PATH: process.env.PATH ?? "" }
      })
      expect(help.stdout).toContain("Usage: inv-server <service>")

      const port = await freePort()
      const server = spawn(process.execPath, [bin, "all"], {
        cwd: out,
        env: {
          PATH: process.env.PATH ?? "",
          INV_AUTH: "off",
          INV_HOME: home,
          PORT: String(port),
          HOST: "127.0.0.1",
          INV_SHUTDOWN_TIMEOUT: "5"
        },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      server.stdout.on("data", (data) => {
        output += data
      })
      server.stderr.on("data", (data) => {
        output += data
      })
      const exited = new Promise<number | null>((resolve) => server.once("exit", (code) => resolve(code)))
      try {
        // A fresh data directory runs initdb first: seconds on a small machine.
        await waitUntilAnswering(`http://127.0.0.1:${port}/health`, 60_000, server)
        await waitUntilAnswering(`http://127.0.0.1:${port}/ready`, 30_000, server)
        expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200)
        expect((await fetch(`http://127.0.0.1:${port}/ready`)).status).toBe(200)
      } finally {
        server.kill("SIGTERM")
        expect(await exited, output).toBe(0)
      }
    }, 120_000)
  })
})
