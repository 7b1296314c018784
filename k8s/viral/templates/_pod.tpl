{{/*
The environment every viral container gets: the config file, and the secrets the config
refers to by variable name, from Secrets created outside the chart.
*/}}
{{- define "viral.env" -}}
{{- $v := .Values -}}
- name: VIRAL_CONFIG
  value: /etc/viral/viral.toml
{{- with $v.scylla.auth.existingSecret }}
- name: {{ include "viral.secretEnv.scyllaUser" $ }}
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $v.scylla.auth.usernameKey }}
- name: {{ include "viral.secretEnv.scyllaPassword" $ }}
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $v.scylla.auth.passwordKey }}
{{- end }}
{{- if and $v.notifierSecrets.webhook.existingSecret (($v.config.notifiers).webhook) }}
- name: {{ include "viral.secretEnv.webhook" $ }}
  valueFrom:
    secretKeyRef:
      name: {{ $v.notifierSecrets.webhook.existingSecret }}
      key: {{ $v.notifierSecrets.webhook.key }}
{{- end }}
{{- if and $v.notifierSecrets.smtp.existingSecret (($v.config.notifiers).email) }}
- name: {{ include "viral.secretEnv.smtpUser" $ }}
  valueFrom:
    secretKeyRef:
      name: {{ $v.notifierSecrets.smtp.existingSecret }}
      key: {{ $v.notifierSecrets.smtp.usernameKey }}
- name: {{ include "viral.secretEnv.smtpPassword" $ }}
  valueFrom:
    secretKeyRef:
      name: {{ $v.notifierSecrets.smtp.existingSecret }}
      key: {{ $v.notifierSecrets.smtp.passwordKey }}
{{- end }}
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Pod-level settings shared by the services and the migration job.
*/}}
{{- define "viral.podCommon" -}}
{{- $root := .root -}}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
serviceAccountName: {{ default (include "viral.serviceAccountName" $root) .serviceAccountName }}
automountServiceAccountToken: {{ $root.Values.serviceAccount.automountServiceAccountToken }}
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- end }}
