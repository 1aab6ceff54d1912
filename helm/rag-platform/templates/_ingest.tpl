{{/* The ingestion Job's spec, shared by the CronJob and the one-off Job: (dict "root" $ "shards" N "parallelism" P).
`Indexed` completion mode gives pod i JOB_COMPLETION_INDEX=i; with JOB_COMPLETIONS=N `rag ingest` ingests the
documents whose id hashes to shard i of N (ingest/partition.py), so the N pods together cover the source once. */}}
{{- define "rag.ingestJobSpec" -}}
{{- $root := .root -}}
{{- $in := $root.Values.ingest -}}
completionMode: Indexed
completions: {{ .shards }}
parallelism: {{ .parallelism }}
{{- with .backoffLimitPerIndex }}
backoffLimitPerIndex: {{ . }}
{{- end }}
{{- with .ttl }}
ttlSecondsAfterFinished: {{ . }}
{{- end }}
template:
  metadata:
    labels:
      {{- include "rag.componentLabels" (dict "root" $root "component" "ingest") | nindent 6 }}
    annotations:
      {{- include "rag.configChecksum" $root | nindent 6 }}
  spec:
    restartPolicy: Never
    serviceAccountName: {{ include "rag.serviceAccountName" $root }}
    automountServiceAccountToken: false
    {{- with $root.Values.imagePullSecrets }}
    imagePullSecrets:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    securityContext:
      {{- toYaml $root.Values.podSecurityContext | nindent 6 }}
    {{- if eq $in.source.type "objectStore" }}
    initContainers:
      - name: fetch
        image: {{ $in.source.objectStore.image }}
        args: ["copy", {{ $in.source.objectStore.remote | quote }}, "/data", "--stats-one-line", "--stats", "30s"]
        env:
          - {name: HOME, value: /tmp}
          - {name: RCLONE_CONFIG, value: /tmp/rclone.conf}
        {{- with $in.source.objectStore.envFromSecret }}
        envFrom:
          - secretRef:
              name: {{ . }}
        {{- end }}
        resources:
          {{- toYaml $in.resources | nindent 10 }}
        securityContext:
          {{- toYaml $root.Values.securityContext | nindent 10 }}
        volumeMounts:
          - {name: source, mountPath: /data}
          - {name: tmp, mountPath: /tmp}
    {{- end }}
    containers:
      - name: ingest
        image: {{ include "rag.image" $root }}
        imagePullPolicy: {{ $root.Values.image.pullPolicy }}
        args:
          - ingest
          - /data
          {{- with $in.collection }}
          - --collection
          - {{ . | quote }}
          {{- end }}
          {{- with $in.tenant }}
          - --tenant
          - {{ . | quote }}
          {{- end }}
          {{- range $in.include }}
          - --include
          - {{ . | quote }}
          {{- end }}
          {{- range $in.exclude }}
          - --exclude
          - {{ . | quote }}
          {{- end }}
          {{- if $in.prune }}
          - --prune
          {{- end }}
          {{- if $in.followLinks }}
          - --follow-links
          {{- end }}
          {{- with $in.accessManifest.configMap }}
          - --access-manifest
          - /etc/rag/access/{{ $in.accessManifest.key }}
          {{- end }}
          {{- with $in.access.groups }}
          - --access-groups
          - {{ join "," . | quote }}
          {{- end }}
          {{- with $in.access.users }}
          - --access-users
          - {{ join "," . | quote }}
          {{- end }}
          {{- if $in.access.tenantWide }}
          - --access-tenant-wide
          {{- end }}
        envFrom:
          - configMapRef:
              name: {{ include "rag.fullname" $root }}
        env:
          - {name: JOB_COMPLETIONS, value: {{ .shards | quote }}}
          {{- include "rag.env" $root | trim | nindent 10 }}
        resources:
          {{- toYaml $in.resources | nindent 10 }}
        securityContext:
          {{- toYaml $root.Values.securityContext | nindent 10 }}
        volumeMounts:
          - name: source
            mountPath: /data
            readOnly: true
            {{- if and (eq $in.source.type "pvc") $in.source.pvc.subPath }}
            subPath: {{ $in.source.pvc.subPath }}
            {{- end }}
          - {name: tmp, mountPath: /tmp}
          {{- if $in.accessManifest.configMap }}
          - {name: access, mountPath: /etc/rag/access, readOnly: true}
          {{- end }}
    volumes:
      - name: source
        {{- if eq $in.source.type "pvc" }}
        persistentVolumeClaim:
          claimName: {{ $in.source.pvc.claimName }}
          readOnly: true
        {{- else }}
        emptyDir:
          sizeLimit: {{ $in.source.objectStore.scratchSize }}
        {{- end }}
      {{- include "rag.tmpVolume" $root | nindent 6 }}
      {{- with $in.accessManifest.configMap }}
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
