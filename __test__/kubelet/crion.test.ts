/** The kubelet's scenarios on crion; containerd.test.ts runs the same ones as the control. */
import test from 'ava';
import { kubeletScenarios } from './scenarios.js';

kubeletScenarios(test, 'crion');
