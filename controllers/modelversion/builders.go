package modelversion

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
)

// Labels of the inference objects of a ModelVersion.
const (
	LabelModel        = "kommerce.io/model"
	LabelModelVersion = "kommerce.io/model-version"
	labelName         = "app.kubernetes.io/name"
	labelInstance     = "app.kubernetes.io/instance"
	labelComponent    = "app.kubernetes.io/component"
	labelManagedBy    = "app.kubernetes.io/managed-by"
	labelPartOf       = "app.kubernetes.io/part-of"
	appName           = "kommerce-inference"
	managerName       = "kommerce-operator"
)

// Port is the inference container's and Service's port (kommerce inference's default).
const Port = 8081

// ContainerName is the inference container; the controller reads its status.
const ContainerName = "inference"

// terminationLog is where `kommerce inference` writes why it refused the artifact.
const terminationLog = "/dev/termination-log"

// Settings are the operator-wide inputs of the builders.
type Settings struct {
	// Image runs `kommerce inference` (the operator's own image in a release).
	Image string
	// PullPolicy of Image; IfNotPresent when empty.
	PullPolicy corev1.PullPolicy
}

var dnsLabel = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

// shortHash is 10 hex digits of the sha256 of s, for names that must be short.
func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:5])
}

// InferenceName is the name of a ModelVersion's Deployment and Service:
// "<name>-inference" when that is a valid Service name (a DNS label of at most 63
// characters starting with a letter), else "mv-<hash>-inference".
func InferenceName(mvName string) string {
	if n := mvName + "-inference"; len(n) <= 63 && dnsLabel.MatchString(mvName) {
		return n
	}
	return "mv-" + shortHash(mvName) + "-inference"
}

// labelValue is name when it is a valid label value, else a hash of it.
func labelValue(name string) string {
	if len(name) <= 63 && dnsLabel.MatchString(name) {
		return name
	}
	return "mv-" + shortHash(name)
}

// servedVersion is the version the inference server serves the model under (and
// answers in model_version): the ModelVersion's name when the server accepts it.
func servedVersion(mvName string) string {
	if len(mvName) <= 63 { // a DNS subdomain that short is a valid server version
		return mvName
	}
	return "mv-" + shortHash(mvName)
}

func selectorLabels(mv *kv1.ModelVersion) map[string]string {
	return map[string]string{labelName: appName, labelInstance: labelValue(mv.Name)}
}

func objectLabels(mv *kv1.ModelVersion) map[string]string {
	return map[string]string{
		labelName: appName, labelInstance: labelValue(mv.Name), labelComponent: "inference",
		labelManagedBy: managerName, labelPartOf: "kommerce",
		LabelModel: mv.Spec.Model, LabelModelVersion: labelValue(mv.Name),
	}
}

// Endpoint is the base URL of a ModelVersion's inference Service, from inside the
// cluster (status.endpoint).
func Endpoint(mv *kv1.ModelVersion) string {
	return fmt.Sprintf("http://%s.%s.svc:%d", InferenceName(mv.Name), mv.Namespace, Port)
}

// fetchable is nil when `kommerce inference` can fetch uri, else why not. The
// schema also admits s3://, gs:// and oci://, which no fetcher reads yet; such a
// version fails at once instead of crash-looping pods.
func fetchable(uri string) error {
	u, err := url.Parse(uri)
	if err != nil {
		return fmt.Errorf("artifact uri is not a URL: %w", err)
	}
	switch u.Scheme {
	case "http", "https", "file":
		return nil
	}
	return fmt.Errorf("artifact uri scheme %q cannot be fetched by kommerce inference yet; publish the file over http(s)", u.Scheme)
}

// tensorsJSON is spec.artifact's inputs and outputs as --model-tensors takes them.
func tensorsJSON(a kv1.Artifact) string {
	b, err := json.Marshal(struct {
		Inputs  []kv1.TensorSpec `json:"inputs"`
		Outputs []kv1.TensorSpec `json:"outputs"`
	}{a.Inputs, a.Outputs})
	if err != nil {
		panic(err) // plain structs of strings and ints always marshal
	}
	return string(b)
}

// desiredDeployment runs `kommerce inference` for one ModelVersion: the artifact is
// fetched by URI, verified by sha256 and checked against the published tensors
// before the pod turns ready; a refusal ends the container with the reason in its
// termination message, which the controller shows. One Deployment per version (not
// one per model with several versions loaded) so that a broken candidate cannot
// take the serving version down with it, each arm scales on its own, and latency
// and errors are per arm without labels inside one process.
func desiredDeployment(mv *kv1.ModelVersion, s Settings) *appsv1ac.DeploymentApplyConfiguration {
	a := mv.Spec.Artifact
	env := []*corev1ac.EnvVarApplyConfiguration{
		envVar("KOMMERCE_HTTP_ADDR", fmt.Sprintf(":%d", Port)),
		envVar("KOMMERCE_INFERENCE_MODEL_URI", a.URI),
		envVar("KOMMERCE_INFERENCE_MODEL_SHA256", a.SHA256),
		envVar("KOMMERCE_INFERENCE_MODEL_NAME", mv.Spec.Model),
		envVar("KOMMERCE_INFERENCE_MODEL_VERSION", servedVersion(mv.Name)),
		envVar("KOMMERCE_INFERENCE_MODEL_TENSORS", tensorsJSON(a)),
		envVar("KOMMERCE_TERMINATION_LOG", terminationLog),
		// Keep answering while kube-proxy removes the endpoint on a rollout.
		envVar("KOMMERCE_DRAIN_DELAY", "5s"),
		envVar("KOMMERCE_LOG_FORMAT", "json"),
	}
	pull := s.PullPolicy
	if pull == "" {
		pull = corev1.PullIfNotPresent
	}
	probe := func(path string, period int32) *corev1ac.ProbeApplyConfiguration {
		return corev1ac.Probe().WithPeriodSeconds(period).WithFailureThreshold(3).
			WithHTTPGet(corev1ac.HTTPGetAction().WithPath(path).WithPort(intstr.FromString("http")))
	}
	container := corev1ac.Container().
		WithName(ContainerName).
		WithImage(s.Image).
		WithImagePullPolicy(pull).
		WithArgs("inference").
		WithEnv(env...).
		WithPorts(corev1ac.ContainerPort().WithName("http").WithContainerPort(Port).WithProtocol(corev1.ProtocolTCP)).
		WithReadinessProbe(probe("/readyz", 5)).
		WithLivenessProbe(probe("/healthz", 20)).
		WithTerminationMessagePath(terminationLog).
		WithTerminationMessagePolicy(corev1.TerminationMessageFallbackToLogsOnError).
		WithSecurityContext(corev1ac.SecurityContext().
			WithAllowPrivilegeEscalation(false).
			WithReadOnlyRootFilesystem(true).
			WithCapabilities(corev1ac.Capabilities().WithDrop("ALL")))
	if l := resourceList(mv.Spec.Resources); l != nil {
		container.WithResources(corev1ac.ResourceRequirements().WithRequests(l))
	}
	replicas := mv.Spec.Replicas
	return appsv1ac.Deployment(InferenceName(mv.Name), mv.Namespace).
		WithLabels(objectLabels(mv)).
		WithSpec(appsv1ac.DeploymentSpec().
			WithReplicas(replicas).
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(selectorLabels(mv))).
			WithStrategy(appsv1ac.DeploymentStrategy().
				WithType("RollingUpdate").
				WithRollingUpdate(appsv1ac.RollingUpdateDeployment().
					WithMaxUnavailable(intstr.FromInt32(0)).
					WithMaxSurge(intstr.FromInt32(1)))).
			WithTemplate(corev1ac.PodTemplateSpec().
				WithLabels(objectLabels(mv)).
				WithSpec(corev1ac.PodSpec().
					WithAutomountServiceAccountToken(false).
					WithTerminationGracePeriodSeconds(30).
					WithSecurityContext(corev1ac.PodSecurityContext().
						WithRunAsNonRoot(true).
						WithRunAsUser(65532).
						WithRunAsGroup(65532).
						WithSeccompProfile(corev1ac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault))).
					WithContainers(container))))
}

func envVar(name, value string) *corev1ac.EnvVarApplyConfiguration {
	return corev1ac.EnvVar().WithName(name).WithValue(value)
}

func resourceList(c *kv1.ComputeResources) corev1.ResourceList {
	if c == nil {
		return nil
	}
	l := corev1.ResourceList{}
	put := func(name corev1.ResourceName, q *resource.Quantity) {
		if q != nil {
			l[name] = *q
		}
	}
	put(corev1.ResourceCPU, c.CPU)
	put(corev1.ResourceMemory, c.Memory)
	if len(l) == 0 {
		return nil
	}
	return l
}

// desiredService is the stable address of one version's inference pods; only
// ready pods (the artifact loaded) are behind it.
func desiredService(mv *kv1.ModelVersion) *corev1ac.ServiceApplyConfiguration {
	return corev1ac.Service(InferenceName(mv.Name), mv.Namespace).
		WithLabels(objectLabels(mv)).
		WithSpec(corev1ac.ServiceSpec().
			WithType(corev1.ServiceTypeClusterIP).
			WithSelector(selectorLabels(mv)).
			WithPorts(corev1ac.ServicePort().WithName("http").WithPort(Port).
				WithTargetPort(intstr.FromString("http")).WithProtocol(corev1.ProtocolTCP)))
}

// loadFailure returns why the inference pods refused the artifact, read from the
// inference container's termination message (written by `kommerce inference`) or
// from a waiting reason that no retry fixes by itself; "" when no pod says so.
// Pods being deleted are ignored.
func loadFailure(pods []corev1.Pod) string {
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Name != ContainerName || cs.Ready {
				continue
			}
			if m := terminated(cs.State.Terminated); m != "" {
				return m
			}
			if m := terminated(cs.LastTerminationState.Terminated); m != "" {
				return m
			}
			if w := cs.State.Waiting; w != nil {
				switch w.Reason {
				case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError":
					return fmt.Sprintf("pod %s: %s: %s", p.Name, w.Reason, w.Message)
				}
			}
		}
	}
	return ""
}

func terminated(t *corev1.ContainerStateTerminated) string {
	if t == nil || t.ExitCode == 0 {
		return ""
	}
	msg := strings.TrimSpace(t.Message)
	if msg == "" {
		msg = fmt.Sprintf("the inference container exited with status %d (%s)", t.ExitCode, t.Reason)
	}
	return msg
}
