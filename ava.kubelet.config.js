// The kubelet e2e (scripts/test.sh runs it after the rest): one file at a time, since a
// kubelet's device manager socket has a fixed path, so two kubelets on a host collide.
export default {
  files: ['dist/__test__/kubelet/**/*.test.js'],
  concurrency: 1,
  timeout: '5m',
  workerThreads: false,
};
