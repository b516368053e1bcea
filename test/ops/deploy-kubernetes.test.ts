import { readFile } from 'node:fs/promises'
import t from 'tap'
import { parseAllDocuments } from 'yaml'

// Issue 20, item 5: docs/deploy/kubernetes/gateway.yaml parses and has what the deploy README promises
// (no offline Kubernetes schema validator is installed: the fields are checked here).

t.test('the Kubernetes manifests: Deployment with probes and preStop, Service, session key as Secret', async (t) => {
  const text = await readFile(new URL('../../docs/deploy/kubernetes/gateway.yaml', import.meta.url), 'utf8')
  const docs = parseAllDocuments(text)
  t.same(docs.flatMap((d) => d.errors.map((e) => e.message)), [], 'valid YAML')
  const objects = docs.map((d) => d.toJS() as Record<string, any>)
  const kinds = objects.map((o) => `${o.apiVersion}/${o.kind}`)
  t.same(kinds, ['v1/Secret', 'apps/v1/Deployment', 'v1/Service'])
  const [secret, deployment, service] = objects
  const pod = deployment.spec.template.spec
  const gateway = pod.containers[0]
  t.same(deployment.spec.selector.matchLabels, deployment.spec.template.metadata.labels, 'the selector matches the pod labels')
  t.same(service.spec.selector, deployment.spec.template.metadata.labels, 'the Service selects the pods')
  t.notOk(service.spec.sessionAffinity, 'no affinity')
  t.equal(gateway.readinessProbe.httpGet.path, '/health/ready')
  t.equal(gateway.livenessProbe.httpGet.path, '/health/live')
  t.ok(gateway.lifecycle.preStop.exec.command.length > 0, 'a preStop hook')
  t.ok(pod.terminationGracePeriodSeconds > 10, 'grace beyond the preStop wait')
  const key = gateway.env.find((e: { name: string }) => e.name === 'ONEMCP_SESSION_KEY')
  t.same(key.valueFrom.secretKeyRef, { name: secret.metadata.name, key: 'key' }, 'the session key comes from the Secret')
  t.ok(gateway.env.some((e: { name: string }) => e.name === 'ONEMCP_INSTANCE_URL'), 'each replica names its own address')
  t.equal(deployment.spec.strategy.rollingUpdate.maxUnavailable, 0)
})
