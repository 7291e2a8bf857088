package training

import (
	"context"
	"testing"
)

func TestALSBeatsPopularityAndBrokenDoesNot(t *testing.T) {
	ds, err := Synthetic{Seed: 1}.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	train, test, _ := SplitByTime(ds.Interactions, ds.From, ds.To, 0.8)
	m, err := TrainALS(train, RecsParams{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	p := RecsParams{}.withDefaults()
	model := EvaluateRanking(m, train, test, p.Context, m.Scores)
	pop := EvaluateRanking(m, train, test, p.Context, m.PopularityScorer())
	broken := m.Shuffled(3)
	bad := EvaluateRanking(broken, train, test, p.Context, broken.Scores)
	t.Logf("users %d: ALS HR@10 %.3f NDCG@10 %.3f; popularity %.3f %.3f; shuffled %.3f %.3f",
		model.Users, model.HR10, model.NDCG10, pop.HR10, pop.NDCG10, bad.HR10, bad.NDCG10)
	if model.Users < 100 {
		t.Fatalf("only %d test users; the split is wrong", model.Users)
	}
	if model.HR10 < 1.2*pop.HR10 || model.NDCG10 < 1.2*pop.NDCG10 {
		t.Errorf("ALS does not clearly beat popularity")
	}
	if bad.HR10 >= pop.HR10 || bad.NDCG10 >= pop.NDCG10 {
		t.Errorf("a model with shuffled item factors beats popularity: the evaluation cannot tell models apart")
	}
}
