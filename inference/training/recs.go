package training

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"time"
)

// RecsParams are the hyper-parameters of the ALS job.
type RecsParams struct {
	Factors    int     // latent dimensions (default 32)
	Iterations int     // ALS sweeps (default 12)
	Lambda     float64 // L2 regularisation (default 0.5)
	Alpha      float64 // confidence per unit of action weight (default 2)
	Context    int     // most recent history items a query uses (default 20)
	TopK       int     // recommendations the exported graph returns (default 100)
	Seed       uint64
}

func (p RecsParams) withDefaults() RecsParams {
	if p.Factors <= 0 {
		p.Factors = 32
	}
	if p.Iterations <= 0 {
		p.Iterations = 12
	}
	if p.Lambda <= 0 {
		p.Lambda = 0.5
	}
	if p.Alpha <= 0 {
		p.Alpha = 2
	}
	if p.Context <= 0 {
		p.Context = 20
	}
	if p.TopK <= 0 {
		p.TopK = 100
	}
	return p
}

// RecsModel scores products for a context of products (the product viewed, the
// cart, or a shopper's recent history): score_j = (Σ_h P_h) · Q_j, where Q are the
// ALS item factors and P = Q (QᵀQ + λI)⁻¹ folds a context into a user vector by
// least squares, so that shoppers the model never saw are served too.
type RecsModel struct {
	Items   []string  // index → product id
	D       int       // factors
	Q       []float32 // item factors, len(Items)×D
	P       []float32 // context embeddings, len(Items)×D
	Popular []float64 // training-window popularity by index
	Lambda  float64
}

// Index maps product ids to indices.
func (m *RecsModel) Index() map[string]int {
	ix := make(map[string]int, len(m.Items))
	for i, id := range m.Items {
		ix[id] = i
	}
	return ix
}

// Scores is the plain-Go forward pass of the exported graph for one context: the
// reference every runtime is checked against. Indices of -1 (padding) add nothing.
func (m *RecsModel) Scores(context []int64) []float64 {
	u := make([]float64, m.D)
	for _, h := range context {
		if h < 0 {
			continue
		}
		for k := range m.D {
			u[k] += float64(m.P[int(h)*m.D+k])
		}
	}
	s := make([]float64, len(m.Items))
	for j := range m.Items {
		acc := 0.0
		q := m.Q[j*m.D : (j+1)*m.D]
		for k, x := range u {
			acc += x * float64(q[k])
		}
		s[j] = acc
	}
	return s
}

// TrainALS learns item factors by implicit-feedback alternating least squares (Hu,
// Koren and Volinsky 2008) from interactions, weighting each by its action.
func TrainALS(interactions []Interaction, p RecsParams) (*RecsModel, error) {
	p = p.withDefaults()
	if len(interactions) == 0 {
		return nil, errors.New("no interactions to learn from")
	}
	users, items := map[string]int{}, map[string]int{}
	var itemIDs []string
	for _, in := range interactions {
		if _, ok := items[in.Item]; !ok {
			items[in.Item] = 0
			itemIDs = append(itemIDs, in.Item)
		}
	}
	sort.Strings(itemIDs)
	for i, id := range itemIDs {
		items[id] = i
	}
	type cell struct{ u, i int }
	weights := map[cell]float64{}
	for _, in := range interactions {
		u, ok := users[in.User]
		if !ok {
			u = len(users)
			users[in.User] = u
		}
		weights[cell{u, items[in.Item]}] += in.Action.Weight()
	}
	nu, ni, d := len(users), len(itemIDs), p.Factors
	byUser := make([][]obs, nu)
	byItem := make([][]obs, ni)
	popular := make([]float64, ni)
	for c, w := range weights {
		byUser[c.u] = append(byUser[c.u], obs{c.i, w})
		byItem[c.i] = append(byItem[c.i], obs{c.u, w})
		popular[c.i] += w
	}
	for _, l := range append(byUser, byItem...) {
		sort.Slice(l, func(a, b int) bool { return l[a].j < l[b].j })
	}
	rng := rand.New(rand.NewPCG(p.Seed, 7)) //nolint:gosec // seeded on purpose: training runs are reproducible
	x := make([]float64, nu*d)
	y := make([]float64, ni*d)
	for i := range y {
		y[i] = rng.NormFloat64() * 0.1
	}
	for range p.Iterations {
		if err := alsStep(x, y, byUser, d, p); err != nil {
			return nil, err
		}
		if err := alsStep(y, x, byItem, d, p); err != nil {
			return nil, err
		}
	}
	m := &RecsModel{Items: itemIDs, D: d, Popular: popular, Lambda: p.Lambda, Q: make([]float32, ni*d)}
	for i, v := range y {
		m.Q[i] = float32(v)
	}
	if err := m.foldIn(); err != nil {
		return nil, err
	}
	return m, nil
}

type obs struct {
	j int
	w float64
}

// alsStep solves every row of out given the fixed factors of the other side.
func alsStep(out, fixed []float64, rows [][]obs, d int, p RecsParams) error {
	base := gram(fixed, len(fixed)/d, d)
	a := make([]float64, d*d)
	b := make([]float64, d)
	for r, l := range rows {
		copy(a, base)
		clear(b)
		for k := range d {
			a[k*d+k] += p.Lambda
		}
		for _, o := range l {
			c := 1 + p.Alpha*o.w
			f := fixed[o.j*d : (o.j+1)*d]
			for i, fi := range f {
				ai := a[i*d : (i+1)*d]
				for j, fj := range f {
					ai[j] += (c - 1) * fi * fj
				}
				b[i] += c * fi
			}
		}
		sol, err := solveSPD(a, b, d)
		if err != nil {
			return fmt.Errorf("als: %w", err)
		}
		copy(out[r*d:(r+1)*d], sol)
	}
	return nil
}

// foldIn computes P = Q (QᵀQ + λI)⁻¹ from Q.
func (m *RecsModel) foldIn() error {
	d, ni := m.D, len(m.Items)
	q := make([]float64, len(m.Q))
	for i, v := range m.Q {
		q[i] = float64(v)
	}
	g := gram(q, ni, d)
	for k := range d {
		g[k*d+k] += m.Lambda
	}
	// Invert column by column; the matrix is symmetric so P's rows are (G⁻¹ q_i).
	inv := make([]float64, d*d)
	for c := range d {
		a := slices.Clone(g)
		e := make([]float64, d)
		e[c] = 1
		col, err := solveSPD(a, e, d)
		if err != nil {
			return fmt.Errorf("fold-in: %w", err)
		}
		for r := range d {
			inv[r*d+c] = col[r]
		}
	}
	m.P = make([]float32, ni*d)
	for i := range ni {
		qi := q[i*d : (i+1)*d]
		for c := range d {
			m.P[i*d+c] = float32(dot(qi, inv[c*d:(c+1)*d]))
		}
	}
	return nil
}

// Shuffled returns a deliberately broken copy of m whose item factors are assigned
// to the wrong products: tests check that such a model does not beat popularity.
func (m *RecsModel) Shuffled(seed uint64) *RecsModel {
	b := *m
	rng := rand.New(rand.NewPCG(seed, 11)) //nolint:gosec // seeded on purpose: training runs are reproducible
	perm := rng.Perm(len(m.Items))
	b.Q = make([]float32, len(m.Q))
	for i, j := range perm {
		copy(b.Q[i*m.D:(i+1)*m.D], m.Q[j*m.D:(j+1)*m.D])
	}
	return &b
}

// SplitByTime returns the interactions before and from the cutoff, which lies at
// fraction frac of the window.
func SplitByTime(in []Interaction, from, to time.Time, frac float64) (train, test []Interaction, cutoff time.Time) {
	cutoff = from.Add(time.Duration(float64(to.Sub(from)) * frac))
	for _, x := range in {
		if x.At.Before(cutoff) {
			train = append(train, x)
		} else {
			test = append(test, x)
		}
	}
	return train, test, cutoff
}

// RankingMetrics are offline metrics of a recommender on a hold-out.
type RankingMetrics struct {
	Users  int     `json:"users"`    // test users evaluated
	HR10   float64 `json:"hr_at_10"` // share of users with a held-out product in their top 10
	NDCG10 float64 `json:"ndcg_at_10"`
}

// Scorer ranks products for one user's context; higher is better.
type Scorer func(context []int64) []float64

// EvaluateRanking measures HR@10 and NDCG@10: for every user seen in train who
// interacts after the cutoff with products new to them, the context is their most
// recent maxContext training products, products they already saw are excluded, and
// the new ones are the relevant set.
func EvaluateRanking(model *RecsModel, train, test []Interaction, maxContext int, score Scorer) RankingMetrics {
	ix := model.Index()
	hist := map[string][]int64{}
	seen := map[string]map[int64]bool{}
	for _, in := range train { // train is in time order
		i, ok := ix[in.Item]
		if !ok {
			continue
		}
		if seen[in.User] == nil {
			seen[in.User] = map[int64]bool{}
		}
		if !seen[in.User][int64(i)] {
			seen[in.User][int64(i)] = true
			hist[in.User] = append(hist[in.User], int64(i))
		}
	}
	relevant := map[string]map[int64]bool{}
	for _, in := range test {
		i, ok := ix[in.Item]
		if !ok || seen[in.User] == nil || seen[in.User][int64(i)] {
			continue
		}
		if relevant[in.User] == nil {
			relevant[in.User] = map[int64]bool{}
		}
		relevant[in.User][int64(i)] = true
	}
	users := make([]string, 0, len(relevant))
	for u := range relevant {
		users = append(users, u)
	}
	sort.Strings(users)
	var m RankingMetrics
	for _, u := range users {
		h := hist[u]
		ctx := h[max(0, len(h)-maxContext):]
		s := score(ctx)
		top := topN(s, 10, seen[u])
		dcg, idcg := 0.0, 0.0
		hit := false
		for rank, i := range top {
			if relevant[u][i] {
				hit = true
				dcg += 1 / math.Log2(float64(rank+2))
			}
		}
		for rank := range min(10, len(relevant[u])) {
			idcg += 1 / math.Log2(float64(rank+2))
		}
		if hit {
			m.HR10++
		}
		m.NDCG10 += dcg / idcg
		m.Users++
	}
	if m.Users > 0 {
		m.HR10 /= float64(m.Users)
		m.NDCG10 /= float64(m.Users)
	}
	return m
}

// topN returns the indices of the n best scores, skipping excluded ones; ties go
// to the lower index.
func topN(s []float64, n int, exclude map[int64]bool) []int64 {
	idx := make([]int64, 0, len(s))
	for i := range s {
		if !exclude[int64(i)] {
			idx = append(idx, int64(i))
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return s[idx[a]] > s[idx[b]] })
	return idx[:min(n, len(idx))]
}

// PopularityScorer ranks by training-window popularity, ignoring the context.
func (m *RecsModel) PopularityScorer() Scorer {
	return func([]int64) []float64 { return m.Popular }
}
