{{/* Chart name, truncated to the 63 characters a label allows. */}}
{{- define "stream-admin.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified release name. A release named like the chart ("stream-admin")
gives objects stream-admin-<service>.
*/}}
{{- define "stream-admin.fullname" -}}
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

{{- define "stream-admin.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "stream-admin.labels" -}}
helm.sh/chart: {{ include "stream-admin.chart" . }}
app.kubernetes.io/name: {{ include "stream-admin.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: stream-admin
{{- end }}

{{/* Selector labels of one component: (dict "root" $ "component" "ingest"). */}}
{{- define "stream-admin.selectorLabels" -}}
app.kubernetes.io/name: {{ include "stream-admin.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Name of one component's objects: (dict "root" $ "component" "ingest"). */}}
{{- define "stream-admin.componentName" -}}
{{- printf "%s-%s" (include "stream-admin.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "stream-admin.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The NATS URLs the services use, comma-separated: every node of the embedded cluster, or nats.urls, or nats.url. */}}
{{- define "stream-admin.natsUrls" -}}
{{- if .Values.nats.embedded.enabled }}
{{- $name := include "stream-admin.componentName" (dict "root" . "component" "nats") }}
{{- $urls := list }}
{{- range $i := until (int .Values.nats.embedded.replicas) }}
{{- $urls = append $urls (printf "nats://%s-%d.%s-headless.%s.svc:4222" $name $i $name $.Release.Namespace) }}
{{- end }}
{{- join "," $urls }}
{{- else if .Values.nats.urls }}
{{- join "," .Values.nats.urls }}
{{- else }}
{{- required "nats.url (or nats.urls) is required when nats.embedded.enabled is false" .Values.nats.url }}
{{- end }}
{{- end }}

{{/* Replicas of the streams the services create. */}}
{{- define "stream-admin.streamReplicas" -}}
{{- if gt (int .Values.nats.streamReplicas) 0 }}
{{- int .Values.nats.streamReplicas }}
{{- else if .Values.nats.embedded.enabled }}
{{- int .Values.nats.embedded.replicas }}
{{- else }}
{{- 1 }}
{{- end }}
{{- end }}

{{/*
One service's settings: serviceDefaults overlaid with services.<name>.
(dict "root" $ "name" "ingest") -> YAML of the merged dict.
*/}}
{{- define "stream-admin.serviceValues" -}}
{{- $svc := index .root.Values.services .name }}
{{- toYaml (mustMergeOverwrite (deepCopy .root.Values.serviceDefaults) (deepCopy $svc)) }}
{{- end }}

{{/*
The config file of one service, as a dict rendered to YAML:
  listen addresses from the ports, nats.servers from nats.url(s) (or every node of the embedded
  NATS), nats.stream_replicas, then the shared `config`, then services.<name>.config.
Every key is checked against files/config-schema.yaml (generated from
config.proto), so a typo fails the render instead of the pod.
(dict "root" $ "name" "ingest" "svc" $svc)
*/}}
{{- define "stream-admin.serviceConfig" -}}
{{- $root := .root }}
{{- $svc := .svc }}
{{- $base := dict
    "server" (dict
        "grpc_listen" (printf "0.0.0.0:%d" (int $svc.grpcPort))
        "http_listen" (printf "0.0.0.0:%d" (int $svc.httpPort)))
    "nats" (dict "servers" (splitList "," (include "stream-admin.natsUrls" $root))
                 "stream_replicas" (int (include "stream-admin.streamReplicas" $root))) }}
{{- $cfg := mustMergeOverwrite $base (deepCopy $root.Values.config) (deepCopy (default (dict) (get $svc "config"))) }}
{{- $schema := $root.Files.Get "files/config-schema.yaml" | fromYaml }}
{{- $msg := required (printf "files/config-schema.yaml has no service %s" .name) (get $schema.services .name) }}
{{- include "stream-admin.checkConfig" (dict "schema" $schema "msg" $msg "value" $cfg "path" "" "service" .name) }}
{{- range $field := list "source" "warehouse" "database" }}
{{- if hasKey (get $cfg $field | default (dict)) "dsn" }}
{{- fail (printf "services.%s.config.%s.dsn: DSNs hold passwords; put them in the Secret postgres.existingSecret and name the key in services.%s.dsnSecretKeys" $.name $field $.name) }}
{{- end }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/*
Recursive key check of a config value against the schema.
(dict "schema" S "msg" "IngestConfig" "value" V "path" "" "service" "ingest")
*/}}
{{- define "stream-admin.checkConfig" -}}
{{- $schema := .schema }}
{{- $fields := get $schema.messages .msg }}
{{- $service := .service }}
{{- $path := .path }}
{{- if not (kindIs "map" .value) }}
{{- fail (printf "services.%s config key '%s': expected a mapping (%s)" $service (trimSuffix "." $path) .msg) }}
{{- end }}
{{- range $k, $v := .value }}
{{- if not (hasKey $fields $k) }}
{{- fail (printf "services.%s config key '%s%s': not a field of %s (known: %s) - see proto/streamadmin/config/v1/config.proto" $service $path $k $.msg (keys $fields | sortAlpha | join ", ")) }}
{{- end }}
{{- $t := get $fields $k }}
{{- $elem := trimPrefix "[]" $t }}
{{- if hasPrefix "[]" $t }}
{{- if not (kindIs "slice" $v) }}
{{- fail (printf "services.%s config key '%s%s': expected a sequence" $service $path $k) }}
{{- end }}
{{- if hasKey $schema.messages $elem }}
{{- range $i, $item := $v }}
{{- include "stream-admin.checkConfig" (dict "schema" $schema "msg" $elem "value" $item "path" (printf "%s%s[%d]." $path $k $i) "service" $service) }}
{{- end }}
{{- end }}
{{- else if hasKey $schema.messages $t }}
{{- include "stream-admin.checkConfig" (dict "schema" $schema "msg" $t "value" $v "path" (printf "%s%s." $path $k) "service" $service) }}
{{- end }}
{{- end }}
{{- end }}
