/**
 * The control: crion-evented-pleg.test.ts on Debian's containerd, whose 1.6 lacks GetContainerEvents, so what
 * it shows is the kubelet's fallback.
 */
import test from 'ava';
import { eventedPlegScenarios } from './evented-pleg.js';

eventedPlegScenarios(test, 'containerd');
