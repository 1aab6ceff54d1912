{{/* Names: <release>-<chart> trimmed to 63 characters, and one per component. */}}
{{- define "rag.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "rag.fullname" -}}
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

{{/* A component's name: (dict "root" $ "component" "api") */}}
{{- define "rag.component" -}}
{{- printf "%s-%s" (include "rag.fullname" .root | trunc 50 | trimSuffix "-") .component }}
{{- end }}

{{- define "rag.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "rag.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: rag-platform
{{- end }}

{{/* Selector labels of one component: (dict "root" $ "component" "api") */}}
{{- define "rag.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rag.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "rag.componentLabels" -}}
{{ include "rag.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "rag.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "rag.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "rag.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Secrets: the API keys, Qdrant's API key. */}}
{{- define "rag.apiKeysSecret" -}}
{{- default (include "rag.component" (dict "root" . "component" "api-keys")) .Values.apiKeys.existingSecret }}
{{- end }}

{{- define "rag.qdrantKeySecret" -}}
{{- if eq .Values.qdrant.mode "external" }}
{{- .Values.qdrant.external.apiKeySecret.name }}
{{- else }}
{{- default (include "rag.component" (dict "root" . "component" "qdrant-key")) .Values.qdrant.apiKey.existingSecret }}
{{- end }}
{{- end }}

{{- define "rag.qdrantKeyEntry" -}}
{{- if eq .Values.qdrant.mode "external" }}{{ .Values.qdrant.external.apiKeySecret.key }}{{ else }}{{ .Values.qdrant.apiKey.secretKey }}{{ end }}
{{- end }}

{{/* The shared state's Redis: the chart's own (password from the generated or given Secret), or an external URL. */}}
{{- define "rag.stateUrl" -}}
{{- if eq .Values.state.mode "internal" }}
{{- printf "redis://%s:6379/0" (include "rag.component" (dict "root" . "component" "redis")) }}
{{- else if eq .Values.state.mode "external" }}
{{- .Values.state.external.url }}
{{- end }}
{{- end }}

{{- define "rag.redisPasswordSecret" -}}
{{- if eq .Values.state.mode "internal" }}
{{- default (include "rag.component" (dict "root" . "component" "redis-password")) .Values.state.redis.password.existingSecret }}
{{- else if eq .Values.state.mode "external" }}
{{- .Values.state.external.passwordSecret.name }}
{{- end }}
{{- end }}

{{- define "rag.redisPasswordEntry" -}}
{{- if eq .Values.state.mode "external" }}{{ .Values.state.external.passwordSecret.key }}{{ else }}{{ .Values.state.redis.password.secretKey }}{{ end }}
{{- end }}

{{- define "rag.qdrantUrl" -}}
{{- if eq .Values.qdrant.mode "external" }}
{{- .Values.qdrant.external.url }}
{{- else }}
{{- printf "http://%s:6333" (include "rag.component" (dict "root" . "component" "qdrant")) }}
{{- end }}
{{- end }}

{{- define "rag.llmBaseUrl" -}}
{{- if eq .Values.llm.backend "vllm" }}
{{- printf "http://%s:%d/v1" (include "rag.component" (dict "root" . "component" "vllm")) (int .Values.vllm.port) }}
{{- else if eq .Values.llm.backend "external" }}
{{- .Values.llm.external.baseUrl }}
{{- end }}
{{- end }}

{{- define "rag.llmKeySecret" -}}
{{- if eq .Values.llm.backend "vllm" }}{{ .Values.vllm.apiKeySecret.name }}{{ else if eq .Values.llm.backend "external" }}{{ .Values.llm.external.apiKeySecret.name }}{{ end }}
{{- end }}

{{- define "rag.llmKeyEntry" -}}
{{- if eq .Values.llm.backend "vllm" }}{{ .Values.vllm.apiKeySecret.key }}{{ else }}{{ .Values.llm.external.apiKeySecret.key }}{{ end }}
{{- end }}

{{/* The port of a URL: explicit, else the scheme's. */}}
{{- define "rag.urlPort" -}}
{{- $u := urlParse . }}
{{- $hostPort := splitList ":" $u.host }}
{{- if gt (len $hostPort) 1 }}{{ last $hostPort }}{{ else if eq $u.scheme "https" }}443{{ else }}80{{ end }}
{{- end }}

{{/* The port of a redis:// or rediss:// URL: explicit, else Redis's 6379. */}}
{{- define "rag.redisPort" -}}
{{- $hostPort := splitList ":" (urlParse .).host }}
{{- if gt (len $hostPort) 1 }}{{ last $hostPort }}{{ else }}6379{{ end }}
{{- end }}

{{/* The records database: the chart's PostgreSQL (password from the generated or given Secret), SQLite on the API's
volume, or (external) a URL from a Secret, set in rag.env. */}}
{{- define "rag.databaseUrl" -}}
{{- if eq .Values.database.mode "internal" }}
{{- printf "postgresql://%s@%s:5432/%s" .Values.database.postgres.user (include "rag.component" (dict "root" . "component" "postgres")) .Values.database.postgres.database }}
{{- else if eq .Values.database.mode "sqlite" }}
{{- print "sqlite:////var/lib/rag/records.db" }}
{{- end }}
{{- end }}

{{- define "rag.postgresPasswordSecret" -}}
{{- default (include "rag.component" (dict "root" . "component" "postgres-password")) .Values.database.postgres.password.existingSecret }}
{{- end }}

{{/* Environment of every pod that runs the image: settings (ConfigMap) and credentials (Secrets), never inline. */}}
{{- define "rag.env" -}}
{{- if eq .Values.database.mode "internal" }}
- name: RAG_DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "rag.postgresPasswordSecret" . }}
      key: {{ .Values.database.postgres.password.secretKey }}
{{- else if eq .Values.database.mode "external" }}
- name: RAG_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.external.urlSecret.name }}
      key: {{ .Values.database.external.urlSecret.key }}
{{- end }}
{{- if include "rag.qdrantKeySecret" . }}
- name: RAG_QDRANT_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "rag.qdrantKeySecret" . }}
      key: {{ include "rag.qdrantKeyEntry" . }}
{{- end }}
{{- if include "rag.redisPasswordSecret" . }}
- name: RAG_STATE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "rag.redisPasswordSecret" . }}
      key: {{ include "rag.redisPasswordEntry" . }}
{{- end }}
{{- if include "rag.llmKeySecret" . }}
- name: RAG_LLM_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "rag.llmKeySecret" . }}
      key: {{ include "rag.llmKeyEntry" . }}
{{- end }}
{{- end }}

{{/* Writable scratch for a read-only root filesystem. */}}
{{- define "rag.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 1Gi
{{- end }}

{{- define "rag.configChecksum" -}}
checksum/config: {{ print (include (print .Template.BasePath "/configmap.yaml") .) (include (print .Template.BasePath "/configmap-limits.yaml") .) | sha256sum }}
{{- end }}

{{/* NetworkPolicy egress rules: DNS, and the vector store (the chart's Qdrant pods, or an external URL's port). */}}
{{- define "rag.np.dns" -}}
- ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
{{- end }}
{{- define "rag.np.toRedis" -}}
{{- if eq .Values.state.mode "internal" }}
- to:
    - podSelector:
        matchLabels:
          {{- include "rag.selectorLabels" (dict "root" . "component" "redis") | nindent 10 }}
  ports:
    - {port: 6379, protocol: TCP}
{{- else if eq .Values.state.mode "external" }}
- ports:  # an external Redis: its URL's port, any address (a policy cannot name a host)
    - {port: {{ include "rag.redisPort" .Values.state.external.url }}, protocol: TCP}
{{- end }}
{{- end }}
{{- define "rag.np.toDatabase" -}}
{{- if eq .Values.database.mode "internal" }}
- to:
    - podSelector:
        matchLabels:
          {{- include "rag.selectorLabels" (dict "root" . "component" "postgres") | nindent 10 }}
  ports:
    - {port: 5432, protocol: TCP}
{{- else if eq .Values.database.mode "external" }}
- ports:  # an external PostgreSQL: its port (5432 unless networkPolicy.databasePort says another), any address
    - {port: {{ .Values.networkPolicy.databasePort }}, protocol: TCP}
{{- end }}
{{- end }}
{{- define "rag.np.toQdrant" -}}
{{- if eq .Values.qdrant.mode "internal" }}
- to:
    - podSelector:
        matchLabels:
          {{- include "rag.selectorLabels" (dict "root" . "component" "qdrant") | nindent 10 }}
  ports:
    - {port: 6333, protocol: TCP}
    - {port: 6334, protocol: TCP}
{{- else }}
- ports:  # an external Qdrant: its URL's port, any address (a policy cannot name a host)
    - {port: {{ include "rag.urlPort" .Values.qdrant.external.url }}, protocol: TCP}
{{- end }}
{{- end }}
