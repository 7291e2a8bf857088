package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
	"github.com/kommerce/kommerce/internal/config"
)

const rolloutSynopsis = `Show and steer the blue-green rollout of a Storefront. Every action is a plain
change to the Storefront (an annotation or spec.version), which the operator acts on;
kubectl can make the same change.

  status <storefront>   phase, colours, versions, checks, and what the rollout waits
                        for; --watch re-prints on every change until the rollout
                        settles (phase Ready, Aborted or Failed) or --timeout passes
  promote <storefront>  promote a preview that passed its checks (phase Paused); it is
                        refused in any other phase. It never skips a check, and a
                        tenant freeze window still blocks the promotion until it ends
  abort <storefront>    stop the rollout in progress (phase Previewing or Paused): the
                        preview colour is scaled down and the active one keeps serving;
                        freeze windows never block an abort
  undo <storefront>     go back to status.previousVersion. Within the rollback window
                        (status.rollbackUntil) the previous colour, still running, takes
                        the traffic back at once: no checks, freeze windows do not block
                        it. After the window a normal rollout to that version starts.
                        During a preview (Previewing, Paused) undo is an abort; after an
                        aborted rollout it puts spec.version back to the serving version

The same with kubectl (storefront "web"):
  promote  kubectl annotate storefront web kommerce.io/promote=true --overwrite
  abort    kubectl annotate storefront web kommerce.io/abort=true --overwrite
  undo     kubectl patch storefront web --type merge \
             -p '{"spec":{"version":"<status.previousVersion>"}}'
           (with "image":"<repository>" as well when status.previousImage comes from
           another repository than the one spec.image gives now)
  status   kubectl get storefront web -o yaml   (or kubectl get sf -w)

Short flags: -n for --namespace, -o for --output, -w for --watch.
Exit status: 0 done (status prints whatever the phase is); 1 refused (e.g. promote
with no preview waiting, abort with nothing running), storefront not found, or
status --watch ended Aborted or Failed or timed out; 2 bad usage or kubeconfig.`

// rolloutActions lists the actions in the order --help shows them.
var rolloutActions = []string{"status", "promote", "abort", "undo"}

// rolloutConfig is the settings of `kommerce rollout`.
type rolloutConfig struct {
	kubeconfig string
	namespace  string
	output     string
	watch      bool
	timeout    time.Duration
}

func (c *rolloutConfig) register(set *config.Set) {
	set.String(&c.kubeconfig, "kubeconfig", "KUBECONFIG", "", "kubeconfig file (a list separated by ':' is merged); ~/.kube/config, then the in-cluster configuration, when unset")
	set.String(&c.namespace, "namespace", "", "", "namespace of the storefront (-n; default: the kubeconfig context's, else \"default\")", config.Check(namespaceName))
	set.String(&c.output, "output", "", "text", "status output format (-o)", config.Enum("text", "json"))
	set.Bool(&c.watch, "watch", "", false, "status: re-print on every change until the rollout settles (-w)")
	set.Duration(&c.timeout, "timeout", "", 0, "status --watch: give up after this long (0: wait until it settles or Ctrl-C)")
}

// rolloutCmd holds what a test replaces: the clock that rollback windows and freeze
// windows are measured against.
type rolloutCmd struct {
	now func() time.Time
}

func runRollout(ctx context.Context, e *env) error {
	return rolloutCmd{now: time.Now}.run(ctx, e)
}

func (r rolloutCmd) run(ctx context.Context, e *env) error {
	set := config.NewSet("rollout status|promote|abort|undo <storefront>", rolloutSynopsis, e.getenv)
	var c rolloutConfig
	c.register(set)
	rest, err := set.Parse(expandShortFlags(e.args), e.stdout)
	if err != nil {
		return err
	}
	action, name, err := rolloutArgs(rest, &c)
	if err != nil {
		return err
	}
	cl, ns, err := rolloutClient(c.kubeconfig, c.namespace)
	if err != nil {
		return err
	}
	s := &rolloutSession{cl: cl, key: types.NamespacedName{Namespace: ns, Name: name}, out: e.stdout, now: r.now}
	switch action {
	case "status":
		if c.watch {
			return s.watchStatus(ctx, c.output == "json", c.timeout)
		}
		return s.status(ctx, c.output == "json")
	case "promote":
		return s.promote(ctx)
	case "abort":
		return s.abort(ctx)
	default:
		return s.undo(ctx)
	}
}

// shortFlags are kubectl's one-letter spellings of rollout's flags.
var shortFlags = map[string]string{"-n": "--namespace", "-o": "--output", "-w": "--watch"}

// expandShortFlags rewrites -n, -o and -w (also -n=x) to their long names, which
// config.Set knows, so that --help lists each flag once.
func expandShortFlags(args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		flag, value, hasValue := strings.Cut(a, "=")
		if long, ok := shortFlags[flag]; ok {
			if hasValue {
				a = long + "=" + value
			} else {
				a = long
			}
		}
		out = append(out, a)
	}
	return out
}

// rolloutArgs checks the action and storefront name, and that the flags fit it.
func rolloutArgs(rest []string, c *rolloutConfig) (action, name string, err error) {
	if len(rest) == 0 {
		return "", "", config.Usagef("rollout needs an action and a storefront: kommerce rollout %s <storefront>", strings.Join(rolloutActions, "|"))
	}
	action = rest[0]
	if !slices.Contains(rolloutActions, action) {
		return "", "", config.Usagef("unknown rollout action %q: accepted values are %s", action, strings.Join(rolloutActions, ", "))
	}
	if len(rest) != 2 {
		return "", "", config.Usagef("rollout %s needs exactly one storefront name (got %d arguments)", action, len(rest)-1)
	}
	name = rest[1]
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return "", "", config.Usagef("storefront name %q: %s", name, strings.Join(errs, "; "))
	}
	if action != "status" && (c.watch || c.output != "text" || c.timeout != 0) {
		return "", "", config.Usagef("--watch, --output and --timeout apply to rollout status only")
	}
	if c.timeout != 0 && !c.watch {
		return "", "", config.Usagef("--timeout needs --watch")
	}
	return action, name, nil
}

// rolloutClient connects like kubectl does: the kubeconfig files given (or
// ~/.kube/config, or the in-cluster configuration), and the namespace given, else
// the current context's, else "default".
func rolloutClient(kubeconfig, namespace string) (client.WithWatch, string, error) {
	rules := &clientcmd.ClientConfigLoadingRules{Precedence: []string{clientcmd.RecommendedHomeFile}}
	if paths := filepath.SplitList(kubeconfig); len(paths) == 1 {
		rules = &clientcmd.ClientConfigLoadingRules{ExplicitPath: paths[0]} // a missing file is an error
	} else if len(paths) > 1 {
		rules = &clientcmd.ClientConfigLoadingRules{Precedence: paths}
	}
	overrides := &clientcmd.ConfigOverrides{}
	overrides.Context.Namespace = namespace
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, "", config.Usagef("no cluster to talk to: set --kubeconfig or KUBECONFIG, or create ~/.kube/config")
		}
		return nil, "", config.Usagef("kubeconfig: %v", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", config.Usagef("kubeconfig namespace: %v", err)
	}
	cl, err := newRolloutClient(cfg)
	return cl, ns, err
}

func newRolloutClient(cfg *rest.Config) (client.WithWatch, error) {
	scheme := runtime.NewScheme()
	if err := kv1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("build scheme: %w", err)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "kommerce-rollout"
	cl, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return cl, nil
}

// rolloutSession is one rollout command against one Storefront.
type rolloutSession struct {
	cl  client.WithWatch
	key types.NamespacedName
	out io.Writer
	now func() time.Time
}

// get reads the storefront; not found names the namespace, the usual mistake.
func (s *rolloutSession) get(ctx context.Context) (*kv1.Storefront, error) {
	sf := &kv1.Storefront{}
	err := s.cl.Get(ctx, s.key, sf)
	switch {
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("storefront %q not found in namespace %q (pick another with -n, or list them: kubectl get sf -A)", s.key.Name, s.key.Namespace)
	case err != nil:
		return nil, fmt.Errorf("get storefront %s/%s: %w", s.key.Namespace, s.key.Name, err)
	}
	return sf, nil
}

// cmdRef is how the output refers to this storefront in a command to run next.
func (s *rolloutSession) cmdRef() string { return s.key.Name + " -n " + s.key.Namespace }

func (s *rolloutSession) status(ctx context.Context, asJSON bool) error {
	sf, err := s.get(ctx)
	if err != nil {
		return err
	}
	return s.print(sf, asJSON, s.now())
}

func (s *rolloutSession) print(sf *kv1.Storefront, asJSON bool, now time.Time) error {
	v := newRolloutView(sf, now)
	if asJSON {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	_, err := io.WriteString(s.out, renderRollout(v, now))
	return err
}

// watchStatus prints the status, then again on every change that shows, until the
// rollout settles, the timeout passes or ctx ends (Ctrl-C, which is not an error).
func (s *rolloutSession) watchStatus(ctx context.Context, asJSON bool, timeout time.Duration) error {
	wctx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	sf, err := s.get(wctx)
	if err != nil {
		return err
	}
	// Changes are detected on the output at a fixed time, so that an update that only
	// moves "12m left" to "11m left" is not printed again.
	start, last := s.now(), ""
	for {
		if shown := renderRollout(newRolloutView(sf, start), start); shown != last {
			if last != "" {
				fmt.Fprintln(s.out)
			}
			last = shown
			if err := s.print(sf, asJSON, s.now()); err != nil {
				return err
			}
		}
		if settled(sf) {
			return settledResult(sf)
		}
		next, err := s.nextChange(wctx, sf)
		switch {
		case ctx.Err() != nil:
			return nil
		case wctx.Err() != nil:
			return fmt.Errorf("timed out after %s; the rollout waits for %s", timeout, waitingFor(sf, s.now()))
		case err != nil:
			return err
		}
		sf = next
	}
}

// nextChange waits for the storefront to change after sf and returns it. A watch the
// server closes or expires is resumed from a fresh read.
func (s *rolloutSession) nextChange(ctx context.Context, sf *kv1.Storefront) (*kv1.Storefront, error) {
	w, err := s.cl.Watch(ctx, &kv1.StorefrontList{}, &client.ListOptions{
		Namespace:     s.key.Namespace,
		FieldSelector: fields.OneTermEqualSelector("metadata.name", s.key.Name),
		Raw:           &metav1.ListOptions{ResourceVersion: sf.ResourceVersion},
	})
	if err != nil {
		return nil, fmt.Errorf("watch storefront %s/%s: %w", s.key.Namespace, s.key.Name, err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return s.get(ctx)
			}
			switch ev.Type {
			case watch.Added, watch.Modified:
				if next, ok := ev.Object.(*kv1.Storefront); ok {
					return next, nil
				}
			case watch.Deleted:
				return nil, fmt.Errorf("storefront %s/%s was deleted", s.key.Namespace, s.key.Name)
			case watch.Error:
				if status := apierrors.FromObject(ev.Object); apierrors.IsResourceExpired(status) || apierrors.IsGone(status) {
					return s.get(ctx)
				}
				return nil, fmt.Errorf("watch storefront %s/%s: %w", s.key.Namespace, s.key.Name, apierrors.FromObject(ev.Object))
			}
		}
	}
}

// settled is true when the controller has seen the current spec and acted on every
// request, and the phase is one a rollout rests in.
func settled(sf *kv1.Storefront) bool {
	switch {
	case sf.Status.ObservedGeneration < sf.Generation, len(pendingActions(sf)) > 0:
		return false
	}
	switch sf.Status.Phase {
	case kv1.StorefrontReady, kv1.StorefrontAborted, kv1.StorefrontFailed:
		return true
	}
	return false
}

// settledResult is the outcome of a watch: nil when the desired version serves.
func settledResult(sf *kv1.Storefront) error {
	switch sf.Status.Phase {
	case kv1.StorefrontAborted:
		return fmt.Errorf("the rollout of %s was aborted: %s", sf.Name, orDash(sf.Status.BlockedBy))
	case kv1.StorefrontFailed:
		return fmt.Errorf("storefront %s failed: %s", sf.Name, orDash(sf.Status.BlockedBy))
	}
	return nil
}

// pendingActions are the rollout annotations set but not yet acted on (the
// controller removes each once it has).
func pendingActions(sf *kv1.Storefront) []string {
	var out []string
	for _, a := range []string{kv1.AnnotationPromote, kv1.AnnotationAbort} {
		if v, ok := sf.Annotations[a]; ok {
			out = append(out, a+"="+v)
		}
	}
	return out
}

// inPreview is true while a preview colour runs and can still be promoted or aborted.
func inPreview(sf *kv1.Storefront) bool {
	return sf.Status.Phase == kv1.StorefrontPreviewing || sf.Status.Phase == kv1.StorefrontPaused
}

// stale refuses an action while the controller has not seen the latest spec: the
// phase it reported may be about to change.
func (s *rolloutSession) stale(sf *kv1.Storefront, action string) error {
	if sf.Status.ObservedGeneration >= sf.Generation {
		return nil
	}
	return fmt.Errorf("cannot %s %s yet: the controller has not picked up its latest change (generation %d, status describes %d); follow it with kommerce rollout status %s --watch",
		action, sf.Name, sf.Generation, sf.Status.ObservedGeneration, s.cmdRef())
}

// annotate sets one rollout annotation with a merge patch, as kubectl annotate does.
func (s *rolloutSession) annotate(ctx context.Context, sf *kv1.Storefront, key string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{key: "true"}}})
	if err != nil {
		return err
	}
	if err := s.cl.Patch(ctx, sf, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("annotate storefront %s/%s %s=true: %w", sf.Namespace, sf.Name, key, err)
	}
	return nil
}

func (s *rolloutSession) promote(ctx context.Context) error {
	sf, err := s.get(ctx)
	if err != nil {
		return err
	}
	if err := s.stale(sf, "promote"); err != nil {
		return err
	}
	st := &sf.Status
	if st.Phase != kv1.StorefrontPaused {
		return fmt.Errorf("cannot promote %s: phase is %s, not Paused; promote acts only on a preview that passed its checks. The rollout waits for %s",
			sf.Name, orDash(string(st.Phase)), waitingFor(sf, s.now()))
	}
	if _, ok := sf.Annotations[kv1.AnnotationAbort]; ok {
		return fmt.Errorf("cannot promote %s: an abort is requested (%s) and the controller has not acted on it yet", sf.Name, kv1.AnnotationAbort)
	}
	if sf.Annotations[kv1.AnnotationPromote] == "true" {
		fmt.Fprintf(s.out, "promotion of %s (%s) already requested; the controller has not acted on it yet.\n", st.PreviewVersion, st.PreviewColor)
		return nil
	}
	if err := s.annotate(ctx, sf, kv1.AnnotationPromote); err != nil {
		return err
	}
	fmt.Fprintf(s.out, "promotion of %s (%s) requested: the controller switches traffic from %s (%s) to %s and removes %s.\n",
		st.PreviewVersion, st.PreviewColor, st.ActiveVersion, st.ActiveColor, st.PreviewColor, kv1.AnnotationPromote)
	if until := st.BlockedUntil; until != nil && until.After(s.now()) {
		fmt.Fprintf(s.out, "A freeze window blocks promotions until %s (%s): %s. The promotion waits for it to end.\n",
			formatTime(until), inTime(until.Time, s.now()), orDash(st.BlockedBy))
	}
	fmt.Fprintf(s.out, "Follow it: kommerce rollout status %s --watch\n", s.cmdRef())
	return nil
}

func (s *rolloutSession) abort(ctx context.Context) error {
	sf, err := s.get(ctx)
	if err != nil {
		return err
	}
	if err := s.stale(sf, "abort"); err != nil {
		return err
	}
	if !inPreview(sf) {
		hint := ""
		if sf.Status.Phase == kv1.StorefrontReady && sf.Status.PreviousVersion != "" {
			hint = fmt.Sprintf("; to go back to %s use kommerce rollout undo %s", sf.Status.PreviousVersion, s.cmdRef())
		}
		return fmt.Errorf("nothing to abort: %s has no rollout in progress (phase %s)%s", sf.Name, orDash(string(sf.Status.Phase)), hint)
	}
	return s.requestAbort(ctx, sf)
}

// requestAbort sets the abort annotation and says what follows.
func (s *rolloutSession) requestAbort(ctx context.Context, sf *kv1.Storefront) error {
	st := &sf.Status
	if sf.Annotations[kv1.AnnotationAbort] == "true" {
		fmt.Fprintf(s.out, "abort of %s (%s) already requested; the controller has not acted on it yet.\n", st.PreviewVersion, st.PreviewColor)
		return nil
	}
	if err := s.annotate(ctx, sf, kv1.AnnotationAbort); err != nil {
		return err
	}
	fmt.Fprintf(s.out, "abort of %s (%s) requested: the controller scales the preview down and removes %s; %s (%s) keeps serving. Freeze windows never block an abort.\n",
		st.PreviewVersion, st.PreviewColor, kv1.AnnotationAbort, st.ActiveVersion, st.ActiveColor)
	fmt.Fprintf(s.out, "spec.version stays %s and is not tried again until spec.version or spec.image changes; once aborted, kommerce rollout undo %s sets it back to %s.\n",
		sf.Spec.Version, s.cmdRef(), st.ActiveVersion)
	return nil
}

// undoPlan is what undo changes: the spec it writes and what the controller will do.
type undoPlan struct {
	version string
	// image is the spec.image to write: nil leaves it, "" removes it.
	image *string
	// instant: the previous colour still runs and takes traffic back without checks.
	instant bool
	color   kv1.Color
	// because says why the switch is not instant, or what the plan is for.
	because string
}

// planUndo decides what undo means for sf at now; abort is true during a preview,
// where undo is an abort. It refuses when there is nothing to go back to.
func planUndo(sf *kv1.Storefront, now time.Time) (plan undoPlan, abort bool, err error) {
	st := &sf.Status
	switch st.Phase {
	case kv1.StorefrontPreviewing, kv1.StorefrontPaused:
		return undoPlan{}, true, nil
	case kv1.StorefrontPromoting, kv1.StorefrontRollingBack:
		return undoPlan{}, false, fmt.Errorf("cannot undo %s now: traffic is switching colours (phase %s); run undo again once it is Ready", sf.Name, st.Phase)
	case kv1.StorefrontAborted:
		if st.ActiveVersion != "" && st.ActiveImage != "" && (sf.Spec.Version != st.ActiveVersion || st.AbortedImage != "") {
			return undoPlan{version: st.ActiveVersion, image: imageFor(sf, st.ActiveImage, st.ActiveVersion), color: st.ActiveColor,
				because: "the aborted rollout is dropped and the spec matches what serves; no traffic moves"}, false, nil
		}
	}
	if st.PreviousVersion == "" {
		return undoPlan{}, false, fmt.Errorf("nothing to undo: %s has no previous version (status.previousVersion is empty); to run another version, set spec.version: kubectl patch storefront %s -n %s --type merge -p '{\"spec\":{\"version\":\"<version>\"}}'",
			sf.Name, sf.Name, sf.Namespace)
	}
	plan = undoPlan{version: st.PreviousVersion, color: st.PreviousColor}
	if st.PreviousImage != "" {
		plan.image = imageFor(sf, st.PreviousImage, st.PreviousVersion)
	}
	switch {
	case st.PreviousColor == "" || st.RollbackUntil == nil:
		plan.because = "no previous colour is kept running"
	case !now.Before(st.RollbackUntil.Time):
		plan.because = fmt.Sprintf("the rollback window ended at %s (%s ago) and %s was scaled to zero", formatTime(st.RollbackUntil), duration.HumanDuration(now.Sub(st.RollbackUntil.Time)), st.PreviousColor)
	default:
		plan.instant = true
	}
	return plan, false, nil
}

// imageFor returns the spec.image that, with version, makes the controller run ref:
// ref's repository, or nil to keep spec.image when it already yields ref (an empty
// spec.image, the operator's default repository, when the active image comes from
// the same repository). A ref that is not "<repository>:<version>" leaves spec.image.
func imageFor(sf *kv1.Storefront, ref, version string) *string {
	repo, ok := strings.CutSuffix(ref, ":"+version)
	if !ok || repo == sf.Spec.Image {
		return nil
	}
	if sf.Spec.Image == "" {
		if active, ok := strings.CutSuffix(sf.Status.ActiveImage, ":"+sf.Status.ActiveVersion); ok && active == repo {
			return nil
		}
	}
	return &repo
}

func (s *rolloutSession) undo(ctx context.Context) error {
	sf, err := s.get(ctx)
	if err != nil {
		return err
	}
	if err := s.stale(sf, "undo"); err != nil {
		return err
	}
	plan, abort, err := planUndo(sf, s.now())
	if err != nil {
		return err
	}
	if abort {
		fmt.Fprintf(s.out, "a preview of %s is in progress, so undo aborts it (as kommerce rollout abort does).\n", sf.Status.PreviewVersion)
		return s.requestAbort(ctx, sf)
	}
	if sf.Spec.Version == plan.version && plan.image == nil {
		fmt.Fprintf(s.out, "spec.version is %s already; nothing to change.\n", plan.version)
		return nil
	}
	if err := s.patchSpec(ctx, sf, plan); err != nil {
		return err
	}
	switch {
	case sf.Status.Phase == kv1.StorefrontAborted && plan.version == sf.Status.ActiveVersion:
		fmt.Fprintf(s.out, "spec.version set back to %s, which %s serves: %s.\n", plan.version, plan.color, plan.because)
	case plan.instant:
		fmt.Fprintf(s.out, "switching back to %s (%s): %s still runs until %s, so the controller points traffic at it at once, without checks; freeze windows do not block it.\n",
			plan.version, plan.color, plan.color, formatTime(sf.Status.RollbackUntil))
	default:
		fmt.Fprintf(s.out, "no instant rollback possible: %s. A normal rollout to %s starts: a preview colour, its checks, then promotion as spec.rollout.promotion (%s) says, outside freeze windows.\n",
			plan.because, plan.version, orDash(string(sf.Spec.Rollout.Promotion)))
	}
	fmt.Fprintf(s.out, "Follow it: kommerce rollout status %s --watch\n", s.cmdRef())
	return nil
}

// patchSpec writes plan's version and image with a merge patch that carries the
// resourceVersion read, so that a change made meanwhile is not overwritten: the
// patch then fails with a conflict and undo can be run again on the new state.
func (s *rolloutSession) patchSpec(ctx context.Context, sf *kv1.Storefront, plan undoPlan) error {
	spec := map[string]any{"version": plan.version}
	if plan.image != nil {
		if *plan.image == "" {
			spec["image"] = nil
		} else {
			spec["image"] = *plan.image
		}
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": sf.ResourceVersion}, "spec": spec})
	if err != nil {
		return err
	}
	err = s.cl.Patch(ctx, sf, client.RawPatch(types.MergePatchType, patch))
	if apierrors.IsConflict(err) {
		return fmt.Errorf("storefront %s/%s changed while undo read it; run undo again", sf.Namespace, sf.Name)
	}
	if err != nil {
		return fmt.Errorf("patch storefront %s/%s spec.version=%s: %w", sf.Namespace, sf.Name, plan.version, err)
	}
	return nil
}

// rolloutView is what status shows, also its JSON form (-o json): the Storefront's
// status with the spec it is measured against and the one-sentence summary.
type rolloutView struct {
	Name               string            `json:"name"`
	Namespace          string            `json:"namespace"`
	Tenant             string            `json:"tenant"`
	Generation         int64             `json:"generation"`
	ObservedGeneration int64             `json:"observedGeneration"`
	DesiredVersion     string            `json:"desiredVersion"`
	DesiredImage       string            `json:"desiredImage,omitempty"`
	Promotion          kv1.PromotionMode `json:"promotion,omitempty"`
	// PendingActions are rollout annotations the controller has not acted on yet.
	PendingActions []string `json:"pendingActions,omitempty"`
	// WaitingFor says in one sentence what the rollout waits for.
	WaitingFor string `json:"waitingFor"`
	// Settled is what status --watch waits for.
	Settled bool                 `json:"settled"`
	Status  kv1.StorefrontStatus `json:"status"`
}

func newRolloutView(sf *kv1.Storefront, now time.Time) rolloutView {
	return rolloutView{
		Name: sf.Name, Namespace: sf.Namespace, Tenant: sf.Spec.TenantRef.Name,
		Generation: sf.Generation, ObservedGeneration: sf.Status.ObservedGeneration,
		DesiredVersion: sf.Spec.Version, DesiredImage: sf.Spec.Image, Promotion: sf.Spec.Rollout.Promotion,
		PendingActions: pendingActions(sf), WaitingFor: waitingFor(sf, now), Settled: settled(sf),
		Status: sf.Status,
	}
}

// waitingFor says what the rollout waits for, in words that finish the sentence
// "the rollout waits for ...".
func waitingFor(sf *kv1.Storefront, now time.Time) string {
	st := &sf.Status
	ref := sf.Name + " -n " + sf.Namespace
	switch {
	case st.Phase == "" || st.ObservedGeneration == 0:
		return "the operator: it has not written a status yet (is kommerce operator running?)"
	case st.ObservedGeneration < sf.Generation:
		return fmt.Sprintf("the operator to pick up generation %d (the status describes %d)", sf.Generation, st.ObservedGeneration)
	case len(pendingActions(sf)) > 0:
		return "the operator to act on " + strings.Join(pendingActions(sf), ", ")
	}
	// The operator's blockedBy often starts with "waiting for" already.
	blocked := strings.TrimPrefix(st.BlockedBy, "waiting for ")
	if until := st.BlockedUntil; until != nil && until.After(now) {
		blocked = fmt.Sprintf("%s (for %s more)", orDash(blocked), duration.HumanDuration(until.Sub(now)))
	}
	switch st.Phase {
	case kv1.StorefrontPending, kv1.StorefrontFailed:
		return orDefault(blocked, conditionMessage(sf), "the operator")
	case kv1.StorefrontDeploying:
		return orDefault(blocked, fmt.Sprintf("the first version %s to become available (%d API pods ready)", sf.Spec.Version, st.ActiveReplicas))
	case kv1.StorefrontPreviewing:
		return orDefault(blocked, fmt.Sprintf("the preview %s (%s) to become available and pass its checks (%d API pods ready, %d of %d checks passed)",
			st.PreviewVersion, st.PreviewColor, st.PreviewReplicas, passedChecks(st.Checks), len(sf.Spec.Rollout.PrePromotionChecks)))
	case kv1.StorefrontPaused:
		if st.BlockedUntil != nil && st.BlockedUntil.After(now) {
			return blocked
		}
		if sf.Spec.Rollout.Promotion == kv1.PromoteManual {
			return fmt.Sprintf("a manual promotion of %s (%s): kommerce rollout promote %s", st.PreviewVersion, st.PreviewColor, ref)
		}
		return orDefault(blocked, "the operator to promote "+st.PreviewVersion)
	case kv1.StorefrontPromoting:
		return fmt.Sprintf("traffic to switch to %s (%s)", st.PreviewColor, st.PreviewVersion)
	case kv1.StorefrontRollingBack:
		return "traffic to switch back to the previous colour"
	case kv1.StorefrontAborted:
		return fmt.Sprintf("nothing: the rollout was aborted (%s) and %s serves; a new spec.version or spec.image starts again", orDash(blocked), st.ActiveVersion)
	}
	return fmt.Sprintf("nothing: %s serves all traffic", st.ActiveVersion)
}

// conditionMessage is the message of the first condition that is not as it should
// be, for phases where blockedBy is empty.
func conditionMessage(sf *kv1.Storefront) string {
	for _, c := range sf.Status.Conditions {
		bad := c.Status != metav1.ConditionTrue
		if c.Type == kv1.StorefrontDegraded || c.Type == kv1.StorefrontProgressing {
			bad = c.Status == metav1.ConditionTrue
		}
		if bad && c.Message != "" {
			return c.Type + ": " + c.Message
		}
	}
	return ""
}

func passedChecks(checks []kv1.CheckResult) int {
	n := 0
	for _, c := range checks {
		if c.Passed {
			n++
		}
	}
	return n
}

// renderRollout is the human form of status: everything a person needs to know what
// the rollout does and waits for, the answer first.
func renderRollout(v rolloutView, now time.Time) string {
	var b strings.Builder
	st := &v.Status
	line := func(key, format string, args ...any) {
		fmt.Fprintf(&b, "%-15s"+format+"\n", append([]any{key + ":"}, args...)...)
	}
	line("Storefront", "%s (namespace %s, tenant %s)", v.Name, v.Namespace, v.Tenant)
	line("Phase", "%s", orDash(string(st.Phase)))
	line("Waiting for", "%s", v.WaitingFor)
	desired := v.DesiredVersion
	if v.DesiredImage != "" {
		desired += " (image " + v.DesiredImage + ")"
	}
	line("Desired", "%s, promotion %s, generation %d (status describes %d)", desired, orDash(string(v.Promotion)), v.Generation, v.ObservedGeneration)
	line("Active", "%s", colour(st.ActiveColor, st.ActiveVersion, st.ActiveImage, st.ActiveReplicas))
	line("Preview", "%s", colour(st.PreviewColor, st.PreviewVersion, st.PreviewImage, st.PreviewReplicas))
	line("Previous", "%s", previous(st, now))
	if st.AbortedImage != "" {
		line("Aborted image", "%s (not tried again until spec.version or spec.image changes)", st.AbortedImage)
	}
	blocked := orDash(st.BlockedBy)
	if st.BlockedUntil != nil {
		blocked += fmt.Sprintf(", until %s (%s)", formatTime(st.BlockedUntil), inTime(st.BlockedUntil.Time, now))
	}
	line("Blocked by", "%s", blocked)
	line("URLs", "%s", orDash(strings.Join(st.URLs, ", ")))
	line("Preview URL", "%s", orDash(st.PreviewURL))
	if len(v.PendingActions) > 0 {
		line("Requested", "%s (not acted on yet)", strings.Join(v.PendingActions, ", "))
	}
	b.WriteString("Checks:\n")
	if len(st.Checks) == 0 {
		b.WriteString("  none run\n")
	} else {
		table(&b, []string{"NAME", "RESULT", "HTTP", "MESSAGE"}, len(st.Checks), func(i int) []string {
			c := st.Checks[i]
			result, code := "fail", "-"
			if c.Passed {
				result = "pass"
			}
			if c.Status != 0 {
				code = fmt.Sprint(c.Status)
			}
			return []string{c.Name, result, code, orDash(c.Message)}
		})
	}
	b.WriteString("Conditions:\n")
	if len(st.Conditions) == 0 {
		b.WriteString("  none\n")
	} else {
		table(&b, []string{"TYPE", "STATUS", "REASON", "MESSAGE"}, len(st.Conditions), func(i int) []string {
			c := st.Conditions[i]
			return []string{c.Type, string(c.Status), c.Reason, orDash(c.Message)}
		})
	}
	return b.String()
}

// table writes an indented, aligned table of n rows.
func table(w io.Writer, header []string, n int, row func(int) []string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  %s\n", strings.Join(header, "\t"))
	for i := range n {
		fmt.Fprintf(tw, "  %s\n", strings.Join(row(i), "\t"))
	}
	_ = tw.Flush()
}

func colour(c kv1.Color, version, image string, ready int32) string {
	if c == "" && version == "" {
		return "-"
	}
	s := fmt.Sprintf("%s %s, %d API pods ready", orDash(string(c)), orDash(version), ready)
	if image != "" {
		s += ", image " + image
	}
	return s
}

func previous(st *kv1.StorefrontStatus, now time.Time) string {
	if st.PreviousVersion == "" {
		return "-"
	}
	s := fmt.Sprintf("%s %s", orDash(string(st.PreviousColor)), st.PreviousVersion)
	switch {
	case st.RollbackUntil == nil:
		return s + ", not kept running: undo starts a normal rollout"
	case now.Before(st.RollbackUntil.Time):
		return s + fmt.Sprintf(", undo possible until %s (%s left, instant)", formatTime(st.RollbackUntil), duration.HumanDuration(st.RollbackUntil.Sub(now)))
	default:
		return s + fmt.Sprintf(", rollback window ended %s: undo starts a normal rollout", formatTime(st.RollbackUntil))
	}
}

func formatTime(t *metav1.Time) string { return t.UTC().Format(time.RFC3339) }

// inTime says how far t is from now: "in 3h" or "5m ago".
func inTime(t, now time.Time) string {
	if t.After(now) {
		return "in " + duration.HumanDuration(t.Sub(now))
	}
	return duration.HumanDuration(now.Sub(t)) + " ago"
}

func orDash(s string) string { return orDefault(s, "-") }

// orDefault returns the first non-empty string.
func orDefault(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
