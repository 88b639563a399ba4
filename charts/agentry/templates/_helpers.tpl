{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "agentry.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name prefix of every resource: <release>-agentry, or the release name when it already contains the chart name. */}}
{{- define "agentry.fullname" -}}
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

{{/* Labels of every resource. */}}
{{- define "agentry.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "agentry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: agentry
{{- end }}

{{/* Selector labels of one component; call with (dict "ctx" . "component" "hub"). */}}
{{- define "agentry.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agentry.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The ServiceAccount pods run as. */}}
{{- define "agentry.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "agentry.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: the tag defaults to appVersion, and `latest` is refused. */}}
{{- define "agentry.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag | toString }}
{{- if eq $tag "latest" }}
{{- fail "image.tag: `latest` is not allowed; pin a version (default: the chart's appVersion)" }}
{{- end }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}

{{/* NATS URL of hub and nodes: the bundled server when enabled, else nats.url. */}}
{{- define "agentry.natsUrl" -}}
{{- if .Values.nats.enabled }}
{{- printf "nats://%s-nats:4222" .Release.Name }}
{{- else }}
{{- .Values.nats.url }}
{{- end }}
{{- end }}

{{/* Name of the hub Service, also the hub address nodes and clients dial. */}}
{{- define "agentry.hubService" -}}
{{- printf "%s-hub" (include "agentry.fullname" .) }}
{{- end }}

{{/* Where AGENTRY_DATABASE_URL comes from, as "secret-name|key", or "" when nothing is configured. */}}
{{- define "agentry.databaseSecretRef" -}}
{{- if .Values.database.existingSecret }}
{{- printf "%s|%s" .Values.database.existingSecret .Values.database.secretKey }}
{{- else if .Values.database.url }}
{{- printf "%s-database|database-url" (include "agentry.fullname" .) }}
{{- else if .Values.postgresql.enabled }}
{{- printf "%s-postgresql|database-url" .Release.Name }}
{{- end }}
{{- end }}

{{/* Pod anti-affinity for one component from its preset; call with (dict "ctx" . "component" "hub" "preset" "soft"). */}}
{{- define "agentry.antiAffinity" -}}
{{- if eq .preset "soft" -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "agentry.selectorLabels" (dict "ctx" .ctx "component" .component) | nindent 12 }}
{{- else if eq .preset "hard" -}}
podAntiAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    - topologyKey: kubernetes.io/hostname
      labelSelector:
        matchLabels:
          {{- include "agentry.selectorLabels" (dict "ctx" .ctx "component" .component) | nindent 10 }}
{{- end }}
{{- end }}

{{/* Annotations rolling pods when the configuration changes. */}}
{{- define "agentry.checksumAnnotations" -}}
checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- if .Values.database.url }}
checksum/database: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}
{{- end }}

{{/* Volumes and mounts shared by hub and node: the config file and a writable /tmp. */}}
{{- define "agentry.configVolume" -}}
- name: config
  configMap:
    name: {{ include "agentry.fullname" . }}-config
- name: tmp
  emptyDir: {}
{{- end }}
{{- define "agentry.configMounts" -}}
- name: config
  mountPath: /etc/agentry
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- end }}
