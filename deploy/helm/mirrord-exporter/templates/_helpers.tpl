{{- define "mirrord-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release name alone when it already contains the chart's name. */}}
{{- define "mirrord-exporter.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "mirrord-exporter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mirrord-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mirrord-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mirrord-exporter.labels" -}}
helm.sh/chart: {{ include "mirrord-exporter.chart" . }}
{{ include "mirrord-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "mirrord-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mirrord-exporter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The kubelet names container logs <pod>_<namespace>_<container>-<id>.log. */}}
{{- define "mirrord-exporter.logGlob" -}}
/var/log/containers/*_{{ .Values.operator.namespace }}_{{ .Values.operator.container }}-*.log
{{- end }}

{{/* The Secret holding the pseudonyms' key: the one given, or the chart's. */}}
{{- define "mirrord-exporter.pseudonymSecret" -}}
{{- .Values.pseudonymize.existingSecret | default (printf "%s-pseudonym" (include "mirrord-exporter.fullname" . | trunc 52 | trimSuffix "-")) }}
{{- end }}
