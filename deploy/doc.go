// Package deploy holds wsedge's packaging files: the systemd unit
// (systemd/), the Kubernetes manifests (k8s/), the Grafana dashboard
// (grafana/) and the Prometheus scrape job and alerts (prometheus/); the
// Dockerfile sits at the repository root, where docker build looks for it.
// docs/operations.md says how to use them.
//
// The package has no code. Its tests hold those files to the binary they
// package: every flag, environment variable, probe path and metric they name
// must exist in a wsedge built the way the image builds it, and what is
// announced but not yet built is marked "NOT YET AVAILABLE:" and checked to
// be still missing, so the mark cannot outlive the feature's arrival.
package deploy
