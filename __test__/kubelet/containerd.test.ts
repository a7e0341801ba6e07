/**
 * The control: the scenarios of crion.test.ts on Debian's containerd, with the
 * same kubelet, manifests and checks. A failure here as well is the harness's.
 */
import test from 'ava';
import { kubeletScenarios } from './scenarios.js';

kubeletScenarios(test, 'containerd');
