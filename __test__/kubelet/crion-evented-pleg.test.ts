/** The kubelet's EventedPLEG gate on crion; containerd-evented-pleg.test.ts is the control. */
import test from 'ava';
import { eventedPlegScenarios } from './evented-pleg.js';

eventedPlegScenarios(test, 'crion');
