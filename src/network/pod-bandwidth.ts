import { InvalidArgumentError } from '../errors.js';

/**
 * Pod traffic shaping as the kubelet asks for it: the annotations
 * `kubernetes.io/ingress-bandwidth` and `kubernetes.io/egress-bandwidth`
 * hold Kubernetes quantities in bits per second ("10M", "1Gi"). They become
 * the `bandwidth` capability of the CNI bandwidth plugin, with the burst
 * left unlimited as the kubelet's own shaper and containerd leave it.
 */

export const INGRESS_BANDWIDTH_ANNOTATION = 'kubernetes.io/ingress-bandwidth';
export const EGRESS_BANDWIDTH_ANNOTATION = 'kubernetes.io/egress-bandwidth';

export interface BandwidthCapability {
  readonly ingressRate?: number;
  readonly ingressBurst?: number;
  readonly egressRate?: number;
  readonly egressBurst?: number;
}

/** The kubelet's limits: below 1 kbit/s a shaper cannot work, above 1 Pbit/s is a typo. */
const MIN_BITS = 1e3;
const MAX_BITS = 1e15;
const UNLIMITED_BURST = 2 ** 32 - 1;

const SUFFIXES: Readonly<Record<string, number>> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** Null when the pod asks for no shaping. */
export function podBandwidth(annotations: Readonly<Record<string, string>>): BandwidthCapability | null {
  const ingress = rate(annotations, INGRESS_BANDWIDTH_ANNOTATION);
  const egress = rate(annotations, EGRESS_BANDWIDTH_ANNOTATION);
  if (ingress === null && egress === null) return null;
  return {
    ...(ingress === null ? {} : { ingressRate: ingress, ingressBurst: UNLIMITED_BURST }),
    ...(egress === null ? {} : { egressRate: egress, egressBurst: UNLIMITED_BURST }),
  };
}

function rate(annotations: Readonly<Record<string, string>>, key: string): number | null {
  const text = annotations[key];
  if (text === undefined) return null;
  const bits = parseQuantity(text.trim());
  if (bits === null) throw new InvalidArgumentError(`annotation ${key}: "${text}" is not a quantity such as 10M or 1Gi`);
  if (bits < MIN_BITS || bits > MAX_BITS) {
    throw new InvalidArgumentError(`annotation ${key}: ${text} is outside 1k to 1P bits per second`);
  }
  return Math.round(bits);
}

/** Kubernetes quantities with a decimal or binary suffix, or a decimal exponent ("1e6"). */
function parseQuantity(text: string): number | null {
  const match = /^(\d+(?:\.\d+)?)(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?)$/.exec(text);
  if (match === null) return null;
  const [, number, exponent, suffix] = match;
  if (exponent !== undefined) return Number(`${number}${exponent}`);
  return Number(number) * SUFFIXES[suffix ?? '']!;
}
