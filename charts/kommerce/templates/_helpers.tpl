{{/* The name of every object of the release: <release>-operator unless overridden. */}}
{{- define "kommerce.fullname" -}}
{{- default (printf "%s-operator" .Release.Name) .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kommerce.selectorLabels" -}}
app.kubernetes.io/name: kommerce-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kommerce.labels" -}}
{{ include "kommerce.selectorLabels" . }}
app.kubernetes.io/part-of: kommerce
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "kommerce.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kommerce.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}
