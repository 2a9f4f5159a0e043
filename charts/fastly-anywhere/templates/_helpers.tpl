{{/* Chart name, overridable by nameOverride. */}}
{{- define "fastly-anywhere.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Prefix of every object name: the release name when it already contains the
chart name (release `fastly-anywhere` gives the StatefulSet `fastly-anywhere`),
else release-chart. Truncated so that suffixed names stay within 63 characters.
*/}}
{{- define "fastly-anywhere.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "fastly-anywhere.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that select the POP pods; never change them on upgrade. */}}
{{- define "fastly-anywhere.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fastly-anywhere.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels that select the POP pods only (not the helm test pod). */}}
{{- define "fastly-anywhere.popSelectorLabels" -}}
{{ include "fastly-anywhere.selectorLabels" . }}
app.kubernetes.io/component: pop
{{- end -}}

{{/* Recommended labels of every object. */}}
{{- define "fastly-anywhere.labels" -}}
helm.sh/chart: {{ include "fastly-anywhere.chart" . }}
{{ include "fastly-anywhere.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: fastly-anywhere
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "fastly-anywhere.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "fastly-anywhere.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name: name a ServiceAccount allowed to read pods, or set serviceAccount.create=true" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Labels of this release's `helm test` pod, the one source of admin traffic the chart admits by itself. */}}
{{- define "fastly-anywhere.testSelectorLabels" -}}
{{ include "fastly-anywhere.selectorLabels" . }}
app.kubernetes.io/component: test
{{- end -}}

{{/*
"true" when the POP talks to the Fastly API (controlPlane.mode fastly): only
then are the tokens required, the tokens Secret rendered and mounted.
*/}}
{{- define "fastly-anywhere.fastlyMode" -}}
{{- if eq .Values.controlPlane.mode "fastly" -}}true{{- end -}}
{{- end -}}

{{/* Whether the chart creates the tokens Secret (fastly mode without existingSecret). */}}
{{- define "fastly-anywhere.createsTokensSecret" -}}
{{- if and (include "fastly-anywhere.fastlyMode" .) (not .Values.existingSecret.name) -}}true{{- end -}}
{{- end -}}

{{/*
Seconds the edge gives requests in flight after its drain delay: what is left
of terminationGracePeriodSeconds once the drain delay and 5 seconds to exit
are taken, at least 1. values-schema (rules/draining.rs) reports values that
leave less than limits.wallTime.
*/}}
{{- define "fastly-anywhere.graceSeconds" -}}
{{- $left := sub (sub (int .Values.terminationGracePeriodSeconds) (int .Values.drainDelaySeconds)) 5 -}}
{{- max $left 1 -}}
{{- end -}}

{{/*
The Host header `helm test` sends through the h2o Service: helmTest.host, else
the first domain of the first service (a leading `*.` becomes `helm-test.`),
else nothing (then the test checks readiness only).
*/}}
{{- define "fastly-anywhere.helmTestHost" -}}
{{- if .Values.helmTest.host -}}
{{- .Values.helmTest.host -}}
{{- else if .Values.services -}}
{{- $service := index .Values.services 0 -}}
{{- with $service.domains -}}
{{- regexReplaceAll "^\\*\\." (index . 0) "helm-test." -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the two tokens. */}}
{{- define "fastly-anywhere.tokensSecret" -}}
{{- default (printf "%s-tokens" (include "fastly-anywhere.fullname" .)) .Values.existingSecret.name -}}
{{- end -}}

{{/* The headless Service that gives the pods stable names. */}}
{{- define "fastly-anywhere.peersService" -}}
{{- printf "%s-peers" (include "fastly-anywhere.fullname" .) -}}
{{- end -}}

{{/* The runtime image, pinned by digest when one is given. */}}
{{- define "fastly-anywhere.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The storage class of a volume: its own, else the provider's. Argument: (list $ volumeValues). */}}
{{- define "fastly-anywhere.storageClass" -}}
{{- $root := index . 0 -}}
{{- $volume := index . 1 -}}
{{- $defaults := dict "gke" "premium-rwo" "ack" "alicloud-disk-topology-alltype" -}}
{{- default (get $defaults $root.Values.provider) $volume.volumeClaim.storageClassName -}}
{{- end -}}

{{/* A Kubernetes memory quantity in bytes (an integer). */}}
{{- define "fastly-anywhere.bytes" -}}
{{- $q := toString . -}}
{{- $num := regexFind "^[0-9]+(\\.[0-9]+)?" $q -}}
{{- $suffix := trimPrefix $num $q -}}
{{- $units := dict "" 1 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 -}}
{{- if or (not $num) (not (hasKey $units $suffix)) -}}
{{- fail (printf "edgeStack.memoryFootprint %q: write a size such as 8Gi (units Ki, Mi, Gi, Ti, k, M, G, T)" $q) -}}
{{- end -}}
{{- mulf (float64 $num) (get $units $suffix) | int64 -}}
{{- end -}}

{{/*
Resources of the edge container: the pod's footprint less what the loader
(100m, 128Mi) and agent (50m, 64Mi) take, so that the pod as a whole requests
exactly edgeStack.cpuFootprint and edgeStack.memoryFootprint. values-schema
(rules/footprint.rs) holds the same numbers.
*/}}
{{- define "fastly-anywhere.edgeCpu" -}}
{{- $millis := sub (mulf .Values.edgeStack.cpuFootprint 1000 | int64) 150 -}}
{{- if lt $millis 500 -}}
{{- fail "edgeStack.cpuFootprint: the pod needs at least 0.65 vCPU (4 are recommended)" -}}
{{- end -}}
{{- printf "%dm" $millis -}}
{{- end -}}

{{- define "fastly-anywhere.edgeMemory" -}}
{{- $bytes := include "fastly-anywhere.bytes" .Values.edgeStack.memoryFootprint | int64 -}}
{{- $mebibytes := div (sub $bytes 201326592) 1048576 -}}
{{- if lt $mebibytes 512 -}}
{{- fail "edgeStack.memoryFootprint: the pod needs at least 704Mi (8Gi is recommended)" -}}
{{- end -}}
{{- printf "%dMi" $mebibytes -}}
{{- end -}}

{{/* The security context every container runs with (Pod Security "restricted"). */}}
{{- define "fastly-anywhere.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The issuer of the pods' mTLS certificate. */}}
{{- define "fastly-anywhere.issuerRef" -}}
{{- if .Values.certManager.createIssuer -}}
name: {{ include "fastly-anywhere.fullname" . }}-ca
kind: Issuer
group: cert-manager.io
{{- else -}}
name: {{ required "certManager.issuerRef.name: name an Issuer or ClusterIssuer, or set certManager.createIssuer=true" .Values.certManager.issuerRef.name }}
kind: {{ .Values.certManager.issuerRef.kind }}
group: {{ .Values.certManager.issuerRef.group }}
{{- end -}}
{{- end -}}

{{/*
"true" when the ServiceMonitor (and the Service it selects) render: metrics
on, observability.metrics.serviceMonitor.enabled, and the cluster serving the
Prometheus Operator's ServiceMonitor API (`helm template` and `--dry-run`
know it only from `--api-versions monitoring.coreos.com/v1/ServiceMonitor`).
Without the API, nothing renders and NOTES.txt says why: a chart that fails
on a cluster without the operator would block the install for a nicety.
*/}}
{{- define "fastly-anywhere.serviceMonitor" -}}
{{- $metrics := .Values.observability.metrics -}}
{{- if and $metrics.enabled $metrics.serviceMonitor.enabled (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor") -}}true{{- end -}}
{{- end -}}

{{/* The headless Service that exposes the three admin ports to the ServiceMonitor. */}}
{{- define "fastly-anywhere.metricsService" -}}
{{- printf "%s-metrics" (include "fastly-anywhere.fullname" .) -}}
{{- end -}}

{{/*
The chart's labels with `extra` (a map from values) merged over them, as
YAML. Argument: (list $ extra).
*/}}
{{- define "fastly-anywhere.labelsWith" -}}
{{- $root := index . 0 -}}
{{- $labels := fromYaml (include "fastly-anywhere.labels" $root) -}}
{{- toYaml (merge (deepCopy (default (dict) (index . 1))) $labels) -}}
{{- end -}}
