// Package chartcheck holds the tests of the deployment artefacts: the Helm
// chart in deploy/helm/mirrord-exporter (helm lint, helm template, the
// rendered manifests decoded strictly into the Kubernetes and
// prometheus-operator types), the plain manifests in deploy/kubernetes, and
// the Dockerfile's build command. It is a module of its own so that the
// exporter's go.mod does not carry those API types.
package chartcheck
