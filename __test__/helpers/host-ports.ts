/**
 * Host ports for pods' port mappings, which the daemon binds. Test files run in parallel on one host, and a port that
 * one file's pod holds fails another's RunPodSandbox with FAILED_PRECONDITION, so each file takes its ports from a
 * block of its own. The blocks sit below the kernel's ephemeral range (32768 and up), where any client connection may
 * hold a port for a while.
 */
const BLOCKS = { leak: 30_000, 'fault-injection': 30_500, 'pod-network': 31_000, 'network-cni': 31_500 } as const;
const BLOCK_SIZE = 500;

type TestFile = keyof typeof BLOCKS;

/** The index-th port of a file's block, for a test that must name the same port again later. */
export function hostPort(file: TestFile, index: number): number {
  if (!Number.isInteger(index) || index < 0 || index >= BLOCK_SIZE) throw new RangeError(`host port ${index} is outside the ${file} block`);
  return BLOCKS[file] + index;
}

/** Hands out a file's ports in turn, so that no two of its pods ask for the same one. */
export function hostPorts(file: TestFile): () => number {
  let next = 0;
  return () => hostPort(file, next++);
}
