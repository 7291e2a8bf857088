package modelversion

import (
	"context"
	"time"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
)

// Judge is the seam between the rollout and the analysis of what shoppers did: the
// controller asks it, on every pass of a running shadow, canary or A/B test, whether
// the candidate should be promoted or rolled back. An implementation reads the
// per-arm aggregates the ingest pipeline stores for Trial.Experiment (exposures,
// conversions, revenue, latency, errors) and applies the success criteria and
// rollback triggers with its sequential test (internal/experiment). A nil Judge
// decides nothing: canaries and shadows then move on the clock alone, and an A/B
// test ends Inconclusive at maxDuration unless a person promotes or aborts it.
type Judge interface {
	// Judge returns the decision on t so far. An error (aggregates unreachable)
	// leaves the rollout where it is for this pass; the pass is retried.
	Judge(ctx context.Context, t Trial) (Decision, error)
}

// Trial is one running rollout as the judge sees it.
type Trial struct {
	Namespace string
	Model     string
	Purpose   kv1.ModelPurpose
	// Experiment is the id the API logs in exposure events (status.experiment).
	Experiment string
	// Candidate and Baseline are the versions compared.
	Candidate, Baseline string
	Strategy            kv1.RolloutStrategy
	// CandidatePercent is the candidate's share of the answers now (0 while it
	// only mirrors requests).
	CandidatePercent int32
	StartedAt        time.Time
	Criteria         kv1.SuccessCriteria
	RollbackOn       kv1.RollbackTriggers
}

// Action is what a Decision asks of the rollout.
type Action string

// Actions.
const (
	// ActionNone: keep going (not enough samples, or no verdict yet).
	ActionNone Action = ""
	// ActionPromote: every success criterion passes. The rollout promotes when
	// autoPromote is set (a canary or shadow once its steps or duration are done),
	// else it waits for kommerce.io/promote.
	ActionPromote Action = "Promote"
	// ActionRollback: a rollback trigger fired or a criterion failed; the rollout
	// rolls back at once.
	ActionRollback Action = "Rollback"
)

// Decision is a judge's answer.
type Decision struct {
	Action Action
	// Verdict is the overall judgement so far (status.verdict).
	Verdict kv1.Verdict
	// Reason says why, in words, for Events and blockedBy.
	Reason string
	// Metrics are the measured values with their intervals (status.metrics).
	Metrics []kv1.MeasuredMetric
}

// NoDecision is the decision of a nil Judge.
var NoDecision = Decision{}
