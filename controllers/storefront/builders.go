package storefront

import (
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	autoscalingv2ac "k8s.io/client-go/applyconfigurations/autoscaling/v2"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"
	policyv1ac "k8s.io/client-go/applyconfigurations/policy/v1"

	autoscalingv2 "k8s.io/api/autoscaling/v2"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
)

// Labels and annotations on what a Storefront owns.
const (
	// StorefrontLabel names the Storefront an object belongs to; the operator's cache
	// holds only ConfigMaps and Deployments carrying it.
	StorefrontLabel = "kommerce.io/storefront"
	// ColorLabel is the colour of an API pod: blue or green.
	ColorLabel = "kommerce.io/color"

	labelName      = "app.kubernetes.io/name"
	labelInstance  = "app.kubernetes.io/instance"
	labelManagedBy = "app.kubernetes.io/managed-by"
	labelPartOf    = "app.kubernetes.io/part-of"
	managerName    = "kommerce-operator"
	namespaceLabel = "kubernetes.io/metadata.name"

	apiAppName    = "kommerce-api"
	ingestAppName = "kommerce-ingest"
)

// Keys of the operator-level data-plane Secret, copied into each storefront's
// connections Secret. Only database-url is required.
const (
	KeyDatabaseURL      = "database-url"
	KeyRedisURL         = "redis-url"
	KeyKafkaBrokers     = "kafka-brokers"
	KeyElasticsearchURL = "elasticsearch-url"
	KeySecretsKey       = "secrets-key"
)

// connectionKeys are the keys copied, in order.
var connectionKeys = []string{KeyDatabaseURL, KeyRedisURL, KeyKafkaBrokers, KeyElasticsearchURL, KeySecretsKey}

// Paths inside the API and ingest containers.
const (
	settingsDir    = "/etc/kommerce/settings"
	settingsFile   = settingsDir + "/storefront.json" // settingsDir + "/" + sfsettings.Key
	tenantKeysDir  = "/etc/kommerce/tenants"
	secretsKeyDir  = "/etc/kommerce/secrets-key"
	secretsKeyFile = secretsKeyDir + "/" + KeySecretsKey
	dataDir        = "/data"
	apiPort        = 8080
	ingestPort     = 8082
	runAsUser      = 65532
	drainDelay     = "5s"
	gracePeriod    = 45
	// Header the pre-promotion checks name the tenant with.
	tenantHeader = "X-Kommerce-Tenant"
)

// world is everything the desired objects of one Storefront are built from: the
// Storefront itself and what the pass learnt about its tenant and data plane.
type world struct {
	sf *kv1.Storefront
	// slug is the tenant's name.
	slug string
	// identitySecret is the tenant's identity Secret in the storefront's namespace.
	identitySecret string
	// stripe is the tenant's Stripe secret key reference when it lives in the
	// storefront's namespace (a Secret elsewhere cannot be mounted).
	stripe *kv1.SecretKeyReference
	// hasSecretsKey is true when the data-plane Secret holds secrets-key.
	hasSecretsKey bool
	// repository is the image repository when spec.image is empty.
	repository string
	// operatorNamespace may reach the API pods (pre-promotion checks); empty: no policy.
	operatorNamespace string
}

func apiName(sf *kv1.Storefront, c kv1.Color) string {
	return sf.Name + "-api-" + colorValue(c)
}
func ingestName(sf *kv1.Storefront) string      { return sf.Name + "-ingest" }
func previewName(sf *kv1.Storefront) string     { return sf.Name + "-preview" }
func connectionsName(sf *kv1.Storefront) string { return sf.Name + "-connections" }
func settingsName(sf *kv1.Storefront) string    { return sf.Name + "-settings" }
func pdbName(sf *kv1.Storefront) string         { return sf.Name + "-api" }
func policyName(sf *kv1.Storefront) string      { return sf.Name + "-api" }
func ingressName(sf *kv1.Storefront, ch kv1.Channel) string {
	return sf.Name + "-" + ch.Name
}

// previewURL reaches the preview Service inside the cluster.
func previewURL(sf *kv1.Storefront) string {
	return "http://" + previewName(sf) + "." + sf.Namespace + ".svc"
}

func colorValue(c kv1.Color) string { return strings.ToLower(string(c)) }

func otherColor(c kv1.Color) kv1.Color {
	if c == kv1.Blue {
		return kv1.Green
	}
	return kv1.Blue
}

// desiredImage is the image reference spec.version and spec.image ask for.
func desiredImage(sf *kv1.Storefront, repository string) string {
	repo := sf.Spec.Image
	if repo == "" {
		repo = repository
	}
	return repo + ":" + sf.Spec.Version
}

// commonLabels are on every object a Storefront owns. The tenant label lets the
// operator's Secret cache (restricted to it) hold the connections Secret.
func commonLabels(w world) map[string]string {
	return map[string]string{
		StorefrontLabel: w.sf.Name,
		kv1.TenantLabel: w.slug,
		labelInstance:   w.sf.Name,
		labelManagedBy:  managerName,
		labelPartOf:     "kommerce",
	}
}

func withLabels(base map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(base)+len(kv)/2)
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// apiSelector selects the API pods of one colour.
func apiSelector(sf *kv1.Storefront, c kv1.Color) map[string]string {
	return map[string]string{StorefrontLabel: sf.Name, labelName: apiAppName, ColorLabel: colorValue(c)}
}

func desiredServiceAccount(w world) *corev1ac.ServiceAccountApplyConfiguration {
	return corev1ac.ServiceAccount(w.sf.Name, w.sf.Namespace).
		WithLabels(commonLabels(w)).
		WithAutomountServiceAccountToken(false)
}

// desiredConnections copies the data-plane Secret's known keys.
func desiredConnections(w world, source map[string][]byte) *corev1ac.SecretApplyConfiguration {
	data := map[string][]byte{}
	for _, k := range connectionKeys {
		if v, ok := source[k]; ok {
			data[k] = v
		}
	}
	return corev1ac.Secret(connectionsName(w.sf), w.sf.Namespace).
		WithLabels(commonLabels(w)).
		WithType(corev1.SecretTypeOpaque).
		WithData(data)
}

func desiredSettings(w world, doc []byte) *corev1ac.ConfigMapApplyConfiguration {
	return corev1ac.ConfigMap(settingsName(w.sf), w.sf.Namespace).
		WithLabels(commonLabels(w)).
		WithData(map[string]string{settingsKey: string(doc)})
}

// secretEnv is an environment variable from a key of the connections Secret.
func secretEnv(w world, name, key string, optional bool) *corev1ac.EnvVarApplyConfiguration {
	sel := corev1ac.SecretKeySelector().WithName(connectionsName(w.sf)).WithKey(key)
	if optional {
		sel.WithOptional(true)
	}
	return corev1ac.EnvVar().WithName(name).WithValueFrom(corev1ac.EnvVarSource().WithSecretKeyRef(sel))
}

func env(name, value string) *corev1ac.EnvVarApplyConfiguration {
	return corev1ac.EnvVar().WithName(name).WithValue(value)
}

// restrictedSecurity is the container security context of every pod: non-root,
// read-only root filesystem, no capabilities, the runtime's seccomp profile.
func restrictedSecurity() *corev1ac.SecurityContextApplyConfiguration {
	return corev1ac.SecurityContext().
		WithRunAsNonRoot(true).
		WithRunAsUser(runAsUser).
		WithAllowPrivilegeEscalation(false).
		WithReadOnlyRootFilesystem(true).
		WithCapabilities(corev1ac.Capabilities().WithDrop("ALL")).
		WithSeccompProfile(corev1ac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault))
}

func podSecurity() *corev1ac.PodSecurityContextApplyConfiguration {
	return corev1ac.PodSecurityContext().
		WithRunAsNonRoot(true).
		WithRunAsUser(runAsUser).
		WithRunAsGroup(runAsUser).
		WithFSGroup(runAsUser).
		WithSeccompProfile(corev1ac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault))
}

func resources(c *kv1.ComputeResources) *corev1ac.ResourceRequirementsApplyConfiguration {
	r := corev1ac.ResourceRequirements()
	if c == nil {
		return r
	}
	l := corev1.ResourceList{}
	if c.CPU != nil {
		l[corev1.ResourceCPU] = *c.CPU
	}
	if c.Memory != nil {
		l[corev1.ResourceMemory] = *c.Memory
	}
	if len(l) > 0 {
		r.WithRequests(l)
	}
	return r
}

func httpProbe(path string, port string, period int32) *corev1ac.ProbeApplyConfiguration {
	return corev1ac.Probe().
		WithHTTPGet(corev1ac.HTTPGetAction().WithPath(path).WithPort(intstr.FromString(port))).
		WithPeriodSeconds(period).
		WithTimeoutSeconds(2).
		WithFailureThreshold(3)
}

func emptyDir(name string) *corev1ac.VolumeApplyConfiguration {
	return corev1ac.Volume().WithName(name).WithEmptyDir(corev1ac.EmptyDirVolumeSource())
}

func mount(name, path string) *corev1ac.VolumeMountApplyConfiguration {
	return corev1ac.VolumeMount().WithName(name).WithMountPath(path).WithReadOnly(true)
}

// connectionEnv are the data-plane settings both the API and ingest read.
func connectionEnv(w world) []*corev1ac.EnvVarApplyConfiguration {
	return []*corev1ac.EnvVarApplyConfiguration{
		secretEnv(w, "KOMMERCE_DATABASE_URL", KeyDatabaseURL, false),
		secretEnv(w, "KOMMERCE_KAFKA_BROKERS", KeyKafkaBrokers, true),
		secretEnv(w, "KOMMERCE_ELASTICSEARCH_URL", KeyElasticsearchURL, true),
	}
}

// apiEnv is the API container's environment. Every name is a setting of
// `kommerce api` (see --help).
func apiEnv(w world) []*corev1ac.EnvVarApplyConfiguration {
	out := []*corev1ac.EnvVarApplyConfiguration{
		env("KOMMERCE_HTTP_ADDR", ":8080"),
		env("KOMMERCE_TENANT", w.slug),
		env("KOMMERCE_STOREFRONT_SETTINGS", settingsFile),
		env("KOMMERCE_TENANT_KEYS_DIR", tenantKeysDir),
		env("KOMMERCE_DATA_DIR", dataDir),
		env("KOMMERCE_DRAIN_DELAY", drainDelay),
	}
	out = append(out, connectionEnv(w)...)
	out = append(out, secretEnv(w, "KOMMERCE_REDIS_URL", KeyRedisURL, true))
	if w.hasSecretsKey {
		out = append(out, env("KOMMERCE_SECRETS_KEY_FILE", secretsKeyFile))
	}
	if w.stripe != nil {
		out = append(out, corev1ac.EnvVar().WithName("KOMMERCE_STRIPE_SECRET_KEY").WithValueFrom(
			corev1ac.EnvVarSource().WithSecretKeyRef(corev1ac.SecretKeySelector().WithName(w.stripe.Name).WithKey(w.stripe.Key))))
	}
	return out
}

// apiVolumes are the API pod's volumes: the settings ConfigMap as a directory (not
// subPath, so kubelet updates the file in place and the API reloads it), the tenant
// identity Secret under <keys dir>/<slug>/, the secrets key, and writable scratch.
func apiVolumes(w world) ([]*corev1ac.VolumeApplyConfiguration, []*corev1ac.VolumeMountApplyConfiguration) {
	vols := []*corev1ac.VolumeApplyConfiguration{
		corev1ac.Volume().WithName("settings").WithConfigMap(corev1ac.ConfigMapVolumeSource().WithName(settingsName(w.sf))),
		corev1ac.Volume().WithName("tenant-identity").WithSecret(corev1ac.SecretVolumeSource().WithSecretName(w.identitySecret)),
		emptyDir("data"), emptyDir("tmp"),
	}
	mounts := []*corev1ac.VolumeMountApplyConfiguration{
		mount("settings", settingsDir),
		mount("tenant-identity", tenantKeysDir+"/"+w.slug),
		corev1ac.VolumeMount().WithName("data").WithMountPath(dataDir),
		corev1ac.VolumeMount().WithName("tmp").WithMountPath("/tmp"),
	}
	if w.hasSecretsKey {
		vols = append(vols, corev1ac.Volume().WithName("secrets-key").WithSecret(corev1ac.SecretVolumeSource().
			WithSecretName(connectionsName(w.sf)).
			WithItems(corev1ac.KeyToPath().WithKey(KeySecretsKey).WithPath(KeySecretsKey))))
		mounts = append(mounts, mount("secrets-key", secretsKeyDir))
	}
	return vols, mounts
}

// desiredAPIDeployment is the API Deployment of one colour running image. replicas
// nil leaves the count to the HorizontalPodAutoscaler.
func desiredAPIDeployment(w world, c kv1.Color, image string, replicas *int32) *appsv1ac.DeploymentApplyConfiguration {
	sf := w.sf
	labels := withLabels(commonLabels(w), labelName, apiAppName, ColorLabel, colorValue(c))
	vols, mounts := apiVolumes(w)
	container := corev1ac.Container().
		WithName("api").
		WithImage(image).
		WithArgs("api").
		WithEnv(apiEnv(w)...).
		WithPorts(corev1ac.ContainerPort().WithName("http").WithContainerPort(apiPort).WithProtocol(corev1.ProtocolTCP)).
		WithReadinessProbe(httpProbe("/readyz", "http", 2)).
		WithLivenessProbe(httpProbe("/healthz", "http", 10)).
		WithResources(resources(sf.Spec.API.Resources)).
		WithSecurityContext(restrictedSecurity()).
		WithVolumeMounts(mounts...)
	spec := appsv1ac.DeploymentSpec().
		WithSelector(metav1ac.LabelSelector().WithMatchLabels(apiSelector(sf, c))).
		WithStrategy(appsv1ac.DeploymentStrategy().WithType(appsv1.RollingUpdateDeploymentStrategyType).
			WithRollingUpdate(appsv1ac.RollingUpdateDeployment().
				WithMaxUnavailable(intstr.FromInt32(0)).WithMaxSurge(intstr.FromString("25%")))).
		WithTemplate(corev1ac.PodTemplateSpec().
			WithLabels(labels).
			WithSpec(corev1ac.PodSpec().
				WithServiceAccountName(sf.Name).
				WithAutomountServiceAccountToken(false).
				WithTerminationGracePeriodSeconds(gracePeriod).
				WithSecurityContext(podSecurity()).
				WithContainers(container).
				WithVolumes(vols...)))
	if replicas != nil {
		spec.WithReplicas(*replicas)
	}
	return appsv1ac.Deployment(apiName(sf, c), sf.Namespace).
		WithLabels(labels).
		WithSpec(spec)
}

// desiredIngestDeployment runs `kommerce ingest` (outbox relay and search indexer)
// on the active version's image.
func desiredIngestDeployment(w world, image string, replicas int32) *appsv1ac.DeploymentApplyConfiguration {
	sf := w.sf
	sel := map[string]string{StorefrontLabel: sf.Name, labelName: ingestAppName}
	labels := withLabels(commonLabels(w), labelName, ingestAppName)
	envs := append([]*corev1ac.EnvVarApplyConfiguration{
		env("KOMMERCE_HTTP_ADDR", ":8082"),
		env("KOMMERCE_DATA_DIR", dataDir),
	}, connectionEnv(w)...)
	container := corev1ac.Container().
		WithName("ingest").
		WithImage(image).
		WithArgs("ingest").
		WithEnv(envs...).
		WithPorts(corev1ac.ContainerPort().WithName("http").WithContainerPort(ingestPort).WithProtocol(corev1.ProtocolTCP)).
		WithReadinessProbe(httpProbe("/readyz", "http", 5)).
		WithLivenessProbe(httpProbe("/healthz", "http", 10)).
		WithResources(resources(sf.Spec.Ingest.Resources)).
		WithSecurityContext(restrictedSecurity()).
		WithVolumeMounts(
			corev1ac.VolumeMount().WithName("data").WithMountPath(dataDir),
			corev1ac.VolumeMount().WithName("tmp").WithMountPath("/tmp"))
	return appsv1ac.Deployment(ingestName(sf), sf.Namespace).
		WithLabels(labels).
		WithSpec(appsv1ac.DeploymentSpec().
			WithReplicas(replicas).
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(sel)).
			WithTemplate(corev1ac.PodTemplateSpec().
				WithLabels(labels).
				WithSpec(corev1ac.PodSpec().
					WithServiceAccountName(sf.Name).
					WithAutomountServiceAccountToken(false).
					WithTerminationGracePeriodSeconds(gracePeriod).
					WithSecurityContext(podSecurity()).
					WithContainers(container).
					WithVolumes(emptyDir("data"), emptyDir("tmp")))))
}

func ingestReplicas(sf *kv1.Storefront) int32 {
	if sf.Spec.Ingest.Replicas != nil {
		return *sf.Spec.Ingest.Replicas
	}
	return 1
}

// desiredService sends port 80 to the API pods of colour c.
func desiredService(w world, name string, c kv1.Color) *corev1ac.ServiceApplyConfiguration {
	return corev1ac.Service(name, w.sf.Namespace).
		WithLabels(withLabels(commonLabels(w), labelName, apiAppName)).
		WithSpec(corev1ac.ServiceSpec().
			WithType(corev1.ServiceTypeClusterIP).
			WithSelector(apiSelector(w.sf, c)).
			WithPorts(corev1ac.ServicePort().WithName("http").WithPort(80).
				WithTargetPort(intstr.FromString("http")).WithProtocol(corev1.ProtocolTCP)))
}

// desiredHPA scales the active colour's Deployment on CPU.
func desiredHPA(w world, active kv1.Color) *autoscalingv2ac.HorizontalPodAutoscalerApplyConfiguration {
	a := w.sf.Spec.API.Autoscaling
	target := a.TargetCPUUtilizationPercent
	if target == 0 {
		target = 70
	}
	return autoscalingv2ac.HorizontalPodAutoscaler(w.sf.Name, w.sf.Namespace).
		WithLabels(commonLabels(w)).
		WithSpec(autoscalingv2ac.HorizontalPodAutoscalerSpec().
			WithScaleTargetRef(autoscalingv2ac.CrossVersionObjectReference().
				WithAPIVersion("apps/v1").WithKind("Deployment").WithName(apiName(w.sf, active))).
			WithMinReplicas(a.MinReplicas).
			WithMaxReplicas(a.MaxReplicas).
			WithMetrics(autoscalingv2ac.MetricSpec().
				WithType(autoscalingv2.ResourceMetricSourceType).
				WithResource(autoscalingv2ac.ResourceMetricSource().
					WithName(corev1.ResourceCPU).
					WithTarget(autoscalingv2ac.MetricTarget().
						WithType(autoscalingv2.UtilizationMetricType).
						WithAverageUtilization(target)))))
}

// desiredPDB lets voluntary disruptions take at most one active API pod at a time.
func desiredPDB(w world, active kv1.Color) *policyv1ac.PodDisruptionBudgetApplyConfiguration {
	return policyv1ac.PodDisruptionBudget(pdbName(w.sf), w.sf.Namespace).
		WithLabels(commonLabels(w)).
		WithSpec(policyv1ac.PodDisruptionBudgetSpec().
			WithMaxUnavailable(intstr.FromInt32(1)).
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(apiSelector(w.sf, active))))
}

// desiredIngress routes one channel's hostname to the active Service.
func desiredIngress(w world, ch kv1.Channel) *networkingv1ac.IngressApplyConfiguration {
	return networkingv1ac.Ingress(ingressName(w.sf, ch), w.sf.Namespace).
		WithLabels(withLabels(commonLabels(w), "kommerce.io/channel", ch.Name)).
		WithSpec(networkingv1ac.IngressSpec().WithRules(
			networkingv1ac.IngressRule().WithHost(ch.Hostname).WithHTTP(
				networkingv1ac.HTTPIngressRuleValue().WithPaths(
					networkingv1ac.HTTPIngressPath().WithPath("/").WithPathType(networkingv1.PathTypePrefix).
						WithBackend(networkingv1ac.IngressBackend().WithService(
							networkingv1ac.IngressServiceBackend().WithName(w.sf.Name).
								WithPort(networkingv1ac.ServiceBackendPort().WithNumber(80))))))))
}

// desiredNetworkPolicy lets the operator's namespace reach the API pods on their
// HTTP port, which the tenant's default-deny policy would otherwise refuse: the
// pre-promotion checks run from the operator.
func desiredNetworkPolicy(w world) *networkingv1ac.NetworkPolicyApplyConfiguration {
	return networkingv1ac.NetworkPolicy(policyName(w.sf), w.sf.Namespace).
		WithLabels(commonLabels(w)).
		WithSpec(networkingv1ac.NetworkPolicySpec().
			WithPodSelector(metav1ac.LabelSelector().WithMatchLabels(map[string]string{StorefrontLabel: w.sf.Name, labelName: apiAppName})).
			WithPolicyTypes(networkingv1.PolicyTypeIngress).
			WithIngress(networkingv1ac.NetworkPolicyIngressRule().
				WithFrom(networkingv1ac.NetworkPolicyPeer().WithNamespaceSelector(
					metav1ac.LabelSelector().WithMatchLabels(map[string]string{namespaceLabel: w.operatorNamespace}))).
				WithPorts(networkingv1ac.NetworkPolicyPort().WithProtocol(corev1.ProtocolTCP).WithPort(intstr.FromInt32(apiPort)))))
}

// channelURLs are the storefront's public URLs, one per channel.
func channelURLs(sf *kv1.Storefront) []string {
	out := make([]string, 0, len(sf.Spec.Channels))
	for _, ch := range sf.Spec.Channels {
		out = append(out, "http://"+ch.Hostname+"/")
	}
	return out
}
