/** The deployment examples are parsed and checked: required fields present, names and ports consistent, RBAC enough. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse } from 'yaml';
import { checkDefinitions, MemoryBindingRepository } from 'secretbind';

type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [key: string]: unknown };
const read = (file: string): Manifest[] => parseAllDocuments(readFileSync(new URL(file, import.meta.url), 'utf8')).map((document) => document.toJS() as Manifest);
const manifests = [...read('./kubernetes/rbac.yaml'), ...read('./kubernetes/deployment.yaml'), ...read('./kubernetes/configmap.yaml')];
const find = (kind: string): Manifest => manifests.find((manifest) => manifest.kind === kind)!;

describe('Example: Kubernetes manifests', () => {
  it('has every object with apiVersion, kind, name and the one namespace', () => {
    expect(manifests.map((manifest) => manifest.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'Role', 'RoleBinding', 'ServiceAccount']);
    for (const manifest of manifests) {
      expect(manifest.apiVersion).toMatch(/^(v1|apps\/v1|rbac\.authorization\.k8s\.io\/v1)$/);
      expect(manifest.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      expect(manifest.metadata.namespace).toBe('secretbind');
    }
  });

  it('runs two replicas with leader election on a Lease in its namespace, probes and a metrics port that match --listen', () => {
    const deployment = find('Deployment') as Manifest & { spec: { replicas: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: { serviceAccountName: string; terminationGracePeriodSeconds: number; containers: Array<{ args: string[]; ports: Array<{ name: string; containerPort: number }>; livenessProbe: { httpGet: { path: string; port: string } }; readinessProbe: { httpGet: { path: string; port: string } }; volumeMounts: Array<{ name: string; mountPath: string }> }>; volumes: Array<{ name: string; configMap?: { name: string } }> } } } };
    const pod = deployment.spec.template.spec;
    const [container] = pod.containers;
    const arg = (name: string): string | undefined => container!.args.find((candidate) => candidate.startsWith(`--${name}=`))?.slice(name.length + 3);
    expect(deployment.spec.replicas).toBe(2);
    expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
    expect(container!.args.slice(0, 2)).toEqual(['sync', '--watch']);
    expect(container!.args).toContain('--leader-elect');
    expect(arg('lease')).toBe(`${deployment.metadata.namespace}/secretbind-sync`);
    const port = Number(arg('listen')!.split(':')[1]);
    const metrics = container!.ports.find((candidate) => candidate.name === 'metrics')!;
    expect(metrics.containerPort).toBe(port);
    expect([container!.livenessProbe.httpGet, container!.readinessProbe.httpGet]).toEqual([{ path: '/healthz', port: 'metrics' }, { path: '/readyz', port: 'metrics' }]);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(Number(arg('grace')!.replace('s', '')));
    expect(pod.serviceAccountName).toBe(find('ServiceAccount').metadata.name);
    const configVolume = pod.volumes.find((volume) => volume.configMap)!;
    expect(configVolume.configMap!.name).toBe(find('ConfigMap').metadata.name);
    expect(arg('config')!.startsWith(container!.volumeMounts.find((mount) => mount.name === configVolume.name)!.mountPath)).toBe(true);
    // The state where a standby finds it after a failover: a Secret in the namespace, not a pod's emptyDir.
    expect(arg('state')).toBe(`kubernetes:${deployment.metadata.namespace}/secretbind-sync-state`);
    expect(JSON.stringify(pod.volumes)).not.toContain('emptyDir');
  });

  it('grants the Role exactly what the daemon needs on Secrets and Leases, bound to its ServiceAccount', () => {
    const role = find('Role') as Manifest & { rules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }> };
    const binding = find('RoleBinding') as Manifest & { subjects: Array<{ kind: string; name: string; namespace: string }>; roleRef: { kind: string; name: string } };
    const verbs = (resource: string) => role.rules.find((rule) => rule.resources.includes(resource))?.verbs.sort();
    expect(verbs('secrets')).toEqual(['create', 'delete', 'get', 'list', 'patch', 'update']);
    expect(verbs('leases')).toEqual(['create', 'get', 'update']);
    expect(role.rules.find((rule) => rule.resources.includes('leases'))!.apiGroups).toEqual(['coordination.k8s.io']);
    expect(binding.roleRef).toMatchObject({ kind: 'Role', name: role.metadata.name });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: find('ServiceAccount').metadata.name, namespace: 'secretbind' }]);
  });

  it('ships a configuration that secretbind accepts', () => {
    const configMap = find('ConfigMap') as Manifest & { data: Record<string, string> };
    const config = parse(configMap.data['secretbind.yaml']!) as { stores: unknown; bindings: unknown; sync: unknown[] };
    expect(() => MemoryBindingRepository.fromConfig(config)).not.toThrow();
    expect(checkDefinitions(config.sync).map((definition) => definition.name)).toEqual(['apps-to-cluster']);
  });
});

describe('Example: systemd unit', () => {
  const unit = readFileSync(new URL('./systemd/secretbind-sync.service', import.meta.url), 'utf8');
  const sections = new Map<string, Map<string, string>>();
  let current = '';
  for (const line of unit.split('\n')) {
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith('#')) continue;
    const header = /^\[(\w+)\]$/.exec(trimmed);
    if (header) sections.set((current = header[1]!), new Map());
    else sections.get(current)!.set(trimmed.slice(0, trimmed.indexOf('=')), trimmed.slice(trimmed.indexOf('=') + 1));
  }
  const service = sections.get('Service')!;

  it('runs the daemon, reloads with SIGHUP and stops with SIGTERM within a timeout longer than the grace period', () => {
    expect([...sections.keys()]).toEqual(['Unit', 'Service', 'Install']);
    expect(service.get('ExecStart')).toMatch(/secretbind sync --watch --config \S+/);
    expect(service.get('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(service.get('KillSignal')).toBe('SIGTERM');
    const grace = Number(/--grace (\d+)s/.exec(service.get('ExecStart')!)![1]);
    expect(Number(service.get('TimeoutStopSec'))).toBeGreaterThan(grace);
    expect(service.get('ReadWritePaths')).toBe('/var/lib/secretbind');
    expect(service.get('ExecStart')).toContain('--state /var/lib/secretbind/');
  });

  it('sets the hardening options', () => {
    for (const [option, value] of Object.entries({ NoNewPrivileges: 'yes', ProtectSystem: 'strict', ProtectHome: 'yes', PrivateTmp: 'yes', PrivateDevices: 'yes', RestrictSUIDSGID: 'yes', CapabilityBoundingSet: '', UMask: '0077', SystemCallFilter: '@system-service' })) {
      expect(service.get(option), option).toBe(value);
    }
    expect(service.get('User')).not.toBe('root');
  });
});
