import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ociResources, type ContainerLimits } from '../oci/index.js';
import { readBundleSpec, writeBundleSpec } from './bundle.js';
import type { ContainerRuntime } from './oci-runtime.js';

/**
 * New limits for a live container: the OCI runtime applies them to its
 * cgroup, and the bundle's spec, which the verbose status shows, follows.
 * A limit the kernel refuses fails in the runtime, and the spec keeps the
 * limits still in force.
 */
export async function applyLimits(runtime: ContainerRuntime, containerId: string, bundleDir: string, limits: ContainerLimits): Promise<void> {
  const resources = ociResources(limits);
  const file = path.join(bundleDir, 'resources.json');
  await writeFile(file, JSON.stringify(resources));
  await runtime.update(containerId, file);
  const spec = await readBundleSpec(bundleDir);
  if (spec !== null)
    await writeBundleSpec(bundleDir, { ...spec, linux: { ...spec.linux, resources: { devices: spec.linux.resources.devices, ...resources } } });
}
