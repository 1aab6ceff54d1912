{{/* The ingestion sources (ingest.sources): each an S3 prefix, a web site or a volume, with one CronJob, one Job when
ingest.job.enabled, and one NetworkPolicy, whose pods carry the source's name in the label below. Helm applies no
defaults inside list items: the templates default shards (1), prune (true), suspend (false) and the access
manifest's key (access.yaml) themselves. */}}

{{/* The label that ties a source's pods to its NetworkPolicy. */}}
{{- define "rag.ingestSourceLabelKey" -}}
rag-platform/ingest-source
{{- end }}

{{/* A source's object names: <release>-<chart>-ingest-<source>, at most 52 characters (a CronJob's limit: the
Jobs it creates add 11), the release's part trimmed where it must be. (dict "root" $ "source" $s) */}}
{{- define "rag.ingestName" -}}
{{- $release := include "rag.fullname" .root | trunc (int (sub 44 (len .source.name))) | trimSuffix "-" }}
{{- printf "%s-ingest-%s" $release .source.name }}
{{- end }}

{{/* Labels of a source's objects and pods, and the selector of its pods: (dict "root" $ "source" $s) */}}
{{- define "rag.ingestLabels" -}}
{{ include "rag.componentLabels" (dict "root" .root "component" "ingest") }}
{{ include "rag.ingestSourceLabelKey" . }}: {{ .source.name }}
{{- end }}

{{- define "rag.ingestSelectorLabels" -}}
{{ include "rag.selectorLabels" (dict "root" .root "component" "ingest") }}
{{ include "rag.ingestSourceLabelKey" . }}: {{ .source.name }}
{{- end }}

{{/* What the schema cannot say: source names are unique (each names a CronJob, a Job and a NetworkPolicy). */}}
{{- define "rag.ingestCheck" -}}
{{- $seen := dict }}
{{- range .Values.ingest.sources }}
{{- if hasKey $seen .name }}
{{- fail (printf "ingest.sources: two sources are named %q (each source's name names its CronJob, Job and NetworkPolicy)" .name) }}
{{- end }}
{{- $_ := set $seen .name true }}
{{- end }}
{{- end }}

{{/* The port a remote source is reached on, any address (a NetworkPolicy cannot name a host): a web source's URI's;
an S3 source's endpoint's (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL in its `env`), else HTTPS's 443 (AWS, and its
STS for web identity). An endpoint given through the credentials Secret is unseen here: name its port in `egress`. */}}
{{- define "rag.ingestPort" -}}
{{- if eq .type "web" }}
{{- include "rag.urlPort" .uri }}
{{- else }}
{{- $env := .env | default dict }}
{{- $endpoint := coalesce (get $env "AWS_ENDPOINT_URL_S3") (get $env "AWS_ENDPOINT_URL") }}
{{- if $endpoint }}{{ include "rag.urlPort" $endpoint }}{{ else }}443{{ end }}
{{- end }}
{{- end }}

{{/* A source's egress beyond DNS, Qdrant and Redis: its `egress` rules ({ports, cidr/except or
namespaceSelector/podSelector}), else its port on any address; a pvc source reaches nothing more. */}}
{{- define "rag.ingestEgress" -}}
{{- if .egress }}
{{- range .egress }}
- ports:
    {{- range .ports }}
    - {port: {{ . }}, protocol: TCP}
    {{- end }}
  {{- if .cidr }}
  to:
    - ipBlock:
        cidr: {{ .cidr }}
        {{- with .except }}
        except:
          {{- toYaml . | nindent 10 }}
        {{- end }}
  {{- else if or .namespaceSelector .podSelector }}
  to:
    - {{- with .namespaceSelector }}
      namespaceSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .podSelector }}
      podSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
  {{- end }}
{{- end }}
{{- else if ne .type "pvc" }}
- ports:  # the source's port, any address (a policy cannot name a host)
    - {port: {{ include "rag.ingestPort" . }}, protocol: TCP}
{{- end }}
{{- end }}

{{/* A source's Job spec, shared by its CronJob and its one-off Job: (dict "root" $ "source" $s [+ "backoffLimitPerIndex"
N "ttl" S]). `Indexed` completion mode gives pod i JOB_COMPLETION_INDEX=i; with JOB_COMPLETIONS=N `rag ingest`
ingests the documents whose id hashes to shard i of N (ingest/partition.py), so the N pods together cover the source
once. */}}
{{- define "rag.ingestJobSpec" -}}
{{- $root := .root -}}
{{- $in := $root.Values.ingest -}}
{{- $s := .source -}}
{{- $shards := int ($s.shards | default 1) -}}
{{- $access := $s.access | default dict -}}
{{- $manifest := $s.accessManifest | default dict -}}
{{- $manifestKey := $manifest.key | default "access.yaml" -}}
completionMode: Indexed
completions: {{ $shards }}
parallelism: {{ $shards }}
{{- if hasKey . "backoffLimitPerIndex" }}
backoffLimitPerIndex: {{ .backoffLimitPerIndex }}
{{- end }}
{{- if hasKey . "ttl" }}
ttlSecondsAfterFinished: {{ .ttl }}
{{- end }}
template:
  metadata:
    labels:
      {{- include "rag.ingestLabels" (dict "root" $root "source" $s) | nindent 6 }}
    annotations:
      {{- include "rag.configChecksum" $root | nindent 6 }}
  spec:
    restartPolicy: Never
    {{- /* a source's own account, e.g. one with an IAM role for web identity (EKS IRSA's webhook then injects
    AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE and the token's volume); the Kubernetes API token stays unmounted */}}
    serviceAccountName: {{ $s.serviceAccountName | default (include "rag.serviceAccountName" $root) }}
    automountServiceAccountToken: false
    {{- with $root.Values.imagePullSecrets }}
    imagePullSecrets:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    securityContext:
      {{- toYaml $root.Values.podSecurityContext | nindent 6 }}
    containers:
      - name: ingest
        image: {{ include "rag.image" $root }}
        imagePullPolicy: {{ $root.Values.image.pullPolicy }}
        args:
          - ingest
          - {{ if eq $s.type "pvc" }}/data{{ else }}{{ $s.uri | quote }}{{ end }}
          {{- with $s.collection }}
          - --collection
          - {{ . | quote }}
          {{- end }}
          {{- with $s.tenant }}
          - --tenant
          - {{ . | quote }}
          {{- end }}
          {{- range $s.include }}
          - --include
          - {{ . | quote }}
          {{- end }}
          {{- range $s.exclude }}
          - --exclude
          - {{ . | quote }}
          {{- end }}
          {{- if (hasKey $s "prune" | ternary $s.prune true) }}
          - --prune
          {{- end }}
          {{- if and (eq $s.type "pvc") $s.followLinks }}
          - --follow-links
          {{- end }}
          {{- if hasKey $s "maxDepth" }}
          - --max-depth
          - {{ $s.maxDepth | quote }}
          {{- end }}
          {{- if hasKey $s "maxPages" }}
          - --max-pages
          - {{ $s.maxPages | quote }}
          {{- end }}
          {{- if $manifest.configMap }}
          - --access-manifest
          - /etc/rag/access/{{ $manifestKey }}
          {{- end }}
          {{- with $access.groups }}
          - --access-groups
          - {{ join "," . | quote }}
          {{- end }}
          {{- with $access.users }}
          - --access-users
          - {{ join "," . | quote }}
          {{- end }}
          {{- with $access.services }}
          - --access-services
          - {{ join "," . | quote }}
          {{- end }}
          {{- if $access.tenantWide }}
          - --access-tenant-wide
          {{- end }}
        envFrom:
          - configMapRef:
              name: {{ include "rag.fullname" $root }}
          {{- with $s.credentialsSecret }}
          - secretRef:  # AWS_* (s3) or RAG_WEB_AUTHORIZATION (web), each key a variable
              name: {{ . }}
          {{- end }}
        env:
          - {name: JOB_COMPLETIONS, value: {{ $shards | quote }}}
          {{- range $name, $value := $s.env }}
          - {name: {{ $name }}, value: {{ $value | toString | quote }}}
          {{- end }}
          {{- include "rag.env" $root | trim | nindent 10 }}
        resources:
          {{- toYaml $in.resources | nindent 10 }}
        securityContext:
          {{- toYaml $root.Values.securityContext | nindent 10 }}
        volumeMounts:
          {{- if eq $s.type "pvc" }}
          - name: source
            mountPath: /data
            readOnly: true
            {{- with $s.pvc.subPath }}
            subPath: {{ . }}
            {{- end }}
          {{- end }}
          - {name: tmp, mountPath: /tmp}
          {{- if $manifest.configMap }}
          - {name: access, mountPath: /etc/rag/access, readOnly: true}
          {{- end }}
    volumes:
      {{- if eq $s.type "pvc" }}
      - name: source
        persistentVolumeClaim:
          claimName: {{ $s.pvc.claimName }}
          readOnly: true
      {{- end }}
      - name: tmp  # scratch for the documents a remote source downloads (values: ingest.scratchSize)
        emptyDir:
          sizeLimit: {{ $in.scratchSize }}
      {{- with $manifest.configMap }}
      - name: access
        configMap:
          name: {{ . }}
      {{- end }}
    {{- with $in.nodeSelector }}
    nodeSelector:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $in.tolerations }}
    tolerations:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $in.affinity }}
    affinity:
      {{- toYaml . | nindent 6 }}
    {{- end }}
{{- end }}
