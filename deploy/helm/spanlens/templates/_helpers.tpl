{{/* Names and labels. */}}
{{- define "spanlens.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "spanlens.fullname" -}}
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

{{- define "spanlens.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "spanlens.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of the collector pods. */}}
{{- define "spanlens.selectorLabels" -}}
app.kubernetes.io/name: {{ include "spanlens.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: collector
{{- end }}

{{- define "spanlens.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "spanlens.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "spanlens.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "spanlens.secretName" -}}
{{- default (include "spanlens.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "spanlens.clickhouseName" -}}
{{- printf "%s-clickhouse" (include "spanlens.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The ClickHouse URL: configured, else the bundled server's; one of them is required. */}}
{{- define "spanlens.clickhouseUrl" -}}
{{- if .Values.config.clickhouse.url }}
{{- .Values.config.clickhouse.url }}
{{- else if .Values.clickhouse.bundled.enabled }}
{{- printf "http://%s:8123" (include "spanlens.clickhouseName" .) }}
{{- else }}
{{- fail "config.clickhouse.url is required (or set clickhouse.bundled.enabled=true for the evaluation ClickHouse)" }}
{{- end }}
{{- end }}

{{/* A TOML value: strings as JSON strings (valid TOML basic strings), numbers as integers. */}}
{{- define "spanlens.toml" -}}
{{- if kindIs "string" . }}{{ toJson . }}{{ else if kindIs "bool" . }}{{ . }}{{ else }}{{ int64 . }}{{ end }}
{{- end }}

{{/* spanlens.toml: the user's `config` plus what the chart owns. */}}
{{- define "spanlens.configToml" -}}
# Rendered by the spanlens Helm chart from values.config. The ClickHouse password and the API
# keys come from the Secret as SPANLENS_CLICKHOUSE__PASSWORD / SPANLENS_AUTH__KEYS.
default_project = {{ include "spanlens.toml" .Values.config.default_project }}

[receiver]
grpc_listen = "0.0.0.0:4317"
http_listen = "0.0.0.0:4318"
{{- with .Values.tls.receiverSecret }}
tls_cert_file = "/etc/spanlens-tls/receiver.crt"
tls_key_file = "/etc/spanlens-tls/receiver.key"
{{- end }}
{{- with .Values.tls.clientCASecret }}
tls_client_ca_file = "/etc/spanlens-tls/client-ca.pem"
{{- end }}
{{- range $k, $v := .Values.config.receiver }}
{{ $k }} = {{ include "spanlens.toml" $v }}
{{- end }}

[clickhouse]
url = {{ include "spanlens.toml" (include "spanlens.clickhouseUrl" .) }}
migrate_on_start = false
{{- with .Values.tls.clickhouseCASecret }}
tls_ca_file = "/etc/spanlens-tls/clickhouse-ca.pem"
{{- end }}
{{- range $k, $v := .Values.config.clickhouse }}
{{- if ne $k "url" }}
{{ $k }} = {{ include "spanlens.toml" $v }}
{{- end }}
{{- end }}

[pipeline]
spool_dir = "/var/lib/spanlens/spool"
{{- range $k, $v := .Values.config.pipeline }}
{{ $k }} = {{ include "spanlens.toml" $v }}
{{- end }}
{{- end }}

{{/* Environment from the Secret (never literal values). */}}
{{- define "spanlens.secretEnv" -}}
- name: SPANLENS_CLICKHOUSE__PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "spanlens.secretName" . }}
      key: {{ .Values.secrets.clickhousePasswordKey }}
- name: SPANLENS_AUTH__KEYS
  valueFrom:
    secretKeyRef:
      name: {{ include "spanlens.secretName" . }}
      key: {{ .Values.secrets.authKeysKey }}
      optional: true
{{- end }}

{{/* The collector binary's container fields shared by the collector, its init container and
the migrate Job. */}}
{{- define "spanlens.collectorContainerBase" -}}
image: {{ include "spanlens.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
env:
  - name: SPANLENS_CONFIG
    value: /etc/spanlens/spanlens.toml
  {{- include "spanlens.secretEnv" . | nindent 2 }}
{{- end }}

{{/* Pod-level fields shared by collector and migrate pods. */}}
{{- define "spanlens.podCommon" -}}
serviceAccountName: {{ include "spanlens.serviceAccountName" . }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Whether any TLS material is mounted. */}}
{{- define "spanlens.tlsEnabled" -}}
{{- if or .Values.tls.receiverSecret .Values.tls.clientCASecret .Values.tls.clickhouseCASecret }}true{{ end }}
{{- end }}

{{/* Volume mounts of the collector binary's containers: config, and TLS files when any. */}}
{{- define "spanlens.configMounts" -}}
- name: config
  mountPath: /etc/spanlens
  readOnly: true
{{- if include "spanlens.tlsEnabled" . }}
- name: tls
  mountPath: /etc/spanlens-tls
  readOnly: true
{{- end }}
{{- end }}

{{/* The TLS volume: the Secrets' files under the names spanlens.toml points at. */}}
{{- define "spanlens.tlsVolume" -}}
{{- if include "spanlens.tlsEnabled" . }}
- name: tls
  projected:
    defaultMode: 0440
    sources:
      {{- with .Values.tls.receiverSecret }}
      - secret:
          name: {{ . }}
          items:
            - { key: tls.crt, path: receiver.crt }
            - { key: tls.key, path: receiver.key }
      {{- end }}
      {{- with .Values.tls.clientCASecret }}
      - secret:
          name: {{ . }}
          items:
            - { key: {{ $.Values.tls.clientCAKey }}, path: client-ca.pem }
      {{- end }}
      {{- with .Values.tls.clickhouseCASecret }}
      - secret:
          name: {{ . }}
          items:
            - { key: {{ $.Values.tls.clickhouseCAKey }}, path: clickhouse-ca.pem }
      {{- end }}
{{- end }}
{{- end }}

{{/* A probe's handler: HTTP(S) GET of `path` on the OTLP/HTTP port; a TCP check under mutual
TLS, where the kubelet cannot present a client certificate. */}}
{{- define "spanlens.probeHandler" -}}
{{- if .root.Values.tls.clientCASecret }}
tcpSocket:
  port: otlp-http
{{- else }}
httpGet:
  path: {{ .path }}
  port: otlp-http
  scheme: {{ ternary "HTTPS" "HTTP" (not (empty .root.Values.tls.receiverSecret)) }}
{{- end }}
{{- end }}
