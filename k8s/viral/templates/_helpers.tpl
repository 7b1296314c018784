{{/*
Chart name, truncated to the 63 characters of a DNS label.
*/}}
{{- define "viral.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: <release>-<chart>, or the release name alone when it already contains the
chart name.
*/}}
{{- define "viral.fullname" -}}
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

{{- define "viral.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Name of one component's resources: <fullname>-<component>. Call with
(dict "root" $ "component" "aggregator").
*/}}
{{- define "viral.componentName" -}}
{{- printf "%s-%s" (include "viral.fullname" .root | trunc 52 | trimSuffix "-") .component }}
{{- end }}

{{/*
Selector labels; with a component, that component's only.
*/}}
{{- define "viral.selectorLabels" -}}
app.kubernetes.io/name: {{ include "viral.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{/*
The standard labels. Call with (dict "root" $ "component" "aggregator") or
(dict "root" $) for resources shared by every component.
*/}}
{{- define "viral.labels" -}}
helm.sh/chart: {{ include "viral.chart" .root }}
{{ include "viral.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: viral
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "viral.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "viral.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image reference: repository, then the digest if set, else the tag (default: the
chart's appVersion).
*/}}
{{- define "viral.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}
{{- end }}

{{/*
Environment variable names the configuration refers to for secrets.
*/}}
{{- define "viral.secretEnv.scyllaUser" -}}VIRAL_SCYLLA_USERNAME{{- end }}
{{- define "viral.secretEnv.scyllaPassword" -}}VIRAL_SCYLLA_PASSWORD{{- end }}
{{- define "viral.secretEnv.webhook" -}}VIRAL_WEBHOOK_SECRET{{- end }}
{{- define "viral.secretEnv.smtpUser" -}}VIRAL_SMTP_USERNAME{{- end }}
{{- define "viral.secretEnv.smtpPassword" -}}VIRAL_SMTP_PASSWORD{{- end }}

{{/*
The whole viral configuration as a dict: `config` from the values, with the sections
the chart owns (bus, store, http, secret variable names) set from the other values.
*/}}
{{- define "viral.config" -}}
{{- $v := .Values }}
{{- $cfg := deepCopy $v.config }}
{{- $kafka := dict "brokers" $v.kafka.brokers "partitions" $v.kafka.partitions "replication_factor" $v.kafka.replicationFactor }}
{{- with $v.kafka.properties }}
{{- $_ := set $kafka "properties" . }}
{{- end }}
{{- $bus := dict "kind" "kafka" "kafka" $kafka }}
{{- $r := $v.scylla.replication }}
{{- $replication := dict "class" $r.class }}
{{- if eq $r.class "NetworkTopologyStrategy" }}
{{- $replication = merge $replication (deepCopy (default (dict) $r.datacenters)) }}
{{- else }}
{{- $_ := set $replication "replication_factor" $r.replicationFactor }}
{{- end }}
{{- $scylla := dict "nodes" $v.scylla.nodes "keyspace" $v.scylla.keyspace "replication" $replication "consistency" $v.scylla.consistency "retention" $v.scylla.retention "migrate" (not $v.migrations.enabled) }}
{{- with $v.scylla.localDatacenter }}
{{- $_ := set $scylla "local_datacenter" . }}
{{- end }}
{{- if $v.scylla.auth.existingSecret }}
{{- $_ := set $scylla "username_env" (include "viral.secretEnv.scyllaUser" .) }}
{{- $_ := set $scylla "password_env" (include "viral.secretEnv.scyllaPassword" .) }}
{{- end }}
{{- $managed := dict "bus" $bus "store" (dict "kind" "scylla" "scylla" $scylla) "http" (dict "listen" (printf "0.0.0.0:%d" (int $v.service.port))) }}
{{- $cfg = mergeOverwrite $cfg $managed }}
{{- $notifiers := default (dict) $cfg.notifiers }}
{{- if and $v.notifierSecrets.webhook.existingSecret $notifiers.webhook }}
{{- $_ := set $notifiers.webhook "secret_env" (include "viral.secretEnv.webhook" .) }}
{{- end }}
{{- if and $v.notifierSecrets.smtp.existingSecret $notifiers.email }}
{{- $_ := set $notifiers.email "username_env" (include "viral.secretEnv.smtpUser" .) }}
{{- $_ := set $notifiers.email "password_env" (include "viral.secretEnv.smtpPassword" .) }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/*
TOML. viral.toml renders a table (a dict) with its dotted path: its plain keys first,
then its sub-tables and arrays of tables, as TOML requires. Null values are left out.
Numbers are written as integers when whole (Helm reads every number in a values file as
a float; viral's integer keys refuse 2000.0, its float keys accept 2000).
*/}}
{{- define "viral.toml.key" -}}
{{- if regexMatch "^[A-Za-z0-9_-]+$" . }}{{ . }}{{ else }}{{ toJson . }}{{ end }}
{{- end }}

{{- define "viral.toml.isTableArray" -}}
{{- if and (kindIs "slice" .) (gt (len .) 0) (kindIs "map" (first .)) }}true{{ end }}
{{- end }}

{{- define "viral.toml.value" -}}
{{- if kindIs "string" . }}{{ toJson . | replace "\\u003c" "<" | replace "\\u003e" ">" | replace "\\u0026" "&" }}
{{- else if kindIs "bool" . }}{{ ternary "true" "false" . }}
{{- else if kindIs "float64" . }}{{ if eq (float64 (int64 .)) . }}{{ int64 . }}{{ else }}{{ . }}{{ end }}
{{- else if or (kindIs "int" .) (kindIs "int64" .) (kindIs "uint64" .) }}{{ . }}
{{- else if kindIs "slice" . }}[{{ range $i, $e := . }}{{ if $i }}, {{ end }}{{ include "viral.toml.value" $e }}{{ end }}]
{{- else if kindIs "map" . }}{ {{- range $i, $k := keys . | sortAlpha }}{{ if $i }},{{ end }} {{ include "viral.toml.key" $k }} = {{ include "viral.toml.value" (get $ $k) }}{{ end }} }
{{- else }}{{ fail (printf "config: cannot write %v (%s) as TOML" . (kindOf .)) }}
{{- end }}
{{- end }}

{{- define "viral.toml" -}}
{{- $table := .table }}
{{- $prefix := .prefix }}
{{- range $k, $v := $table }}
{{- if and (not (kindIs "invalid" $v)) (not (kindIs "map" $v)) (not (include "viral.toml.isTableArray" $v)) }}
{{ include "viral.toml.key" $k }} = {{ include "viral.toml.value" $v }}
{{- end }}
{{- end }}
{{- range $k, $v := $table }}
{{- $path := include "viral.toml.key" $k }}
{{- if $prefix }}{{ $path = printf "%s.%s" $prefix $path }}{{ end }}
{{- if kindIs "map" $v }}

[{{ $path }}]
{{- include "viral.toml" (dict "table" $v "prefix" $path) }}
{{- else if include "viral.toml.isTableArray" $v }}
{{- range $v }}

[[{{ $path }}]]
{{- include "viral.toml" (dict "table" . "prefix" $path) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Fail early on values the services would refuse or that cannot work.
*/}}
{{- define "viral.validate" -}}
{{- if not .Values.kafka.brokers }}
{{- fail "kafka.brokers is required: the bootstrap servers of your Kafka cluster (host:port,…)" }}
{{- end }}
{{- if not .Values.scylla.nodes }}
{{- fail "scylla.nodes is required: contact points of your ScyllaDB or Cassandra cluster ([host:port, …])" }}
{{- end }}
{{- $partitions := int .Values.kafka.partitions }}
{{- if gt (int .Values.aggregator.replicaCount) $partitions }}
{{- fail (printf "aggregator.replicaCount (%d) exceeds kafka.partitions (%d): each partition has one aggregator, the others would idle" (int .Values.aggregator.replicaCount) $partitions) }}
{{- end }}
{{- if and .Values.aggregator.autoscaling.enabled (gt (int .Values.aggregator.autoscaling.maxReplicas) $partitions) }}
{{- fail (printf "aggregator.autoscaling.maxReplicas (%d) exceeds kafka.partitions (%d): replicas beyond the partition count get no work" (int .Values.aggregator.autoscaling.maxReplicas) $partitions) }}
{{- end }}
{{- end }}
