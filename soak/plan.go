package soak

import (
	"math"
	"math/rand/v2"
	"sort"
)

// Kind is what a run of the workload exercises.
type Kind string

// Kinds of runs. Everything but KindNormal is either hostile input or a
// feature whose clean-up differs.
const (
	KindNormal      Kind = "normal"
	KindHostileName Kind = "hostile-name" // flow and run names with spaces, unicode, 300 characters
	KindFlowFails   Kind = "flow-fails"   // the flow reports Failed and exits 1
	KindRegistry    Kind = "registry"     // private registry with a password
	KindKeepGroup   Kind = "keep-group"   // keep_container_group: true
	KindBadType     Kind = "bad-type"     // cpu "abc", memory "lots", cpu [1, 2]
	KindEmptyImage  Kind = "empty-image"  // image ""
	KindBadTemplate Kind = "bad-template" // a pool template with unknown placeholders
)

// Variants per kind: the deployments a kind's runs are spread over.
var variants = map[Kind]int{
	KindNormal: 1, KindHostileName: 3, KindFlowFails: 1, KindRegistry: 1, KindKeepGroup: 1,
	KindBadType: 3, KindEmptyImage: 1, KindBadTemplate: 3,
}

// Mix is the share of each kind other than KindNormal, which takes the rest.
type Mix map[Kind]float64

// DefaultMix is the soak's workload: mostly normal runs, with every kind of
// hostile input present.
func DefaultMix() Mix {
	return Mix{
		KindHostileName: 0.04, KindFlowFails: 0.03, KindRegistry: 0.05, KindKeepGroup: 0.01,
		KindBadType: 0.03, KindEmptyImage: 0.01, KindBadTemplate: 0.03,
	}
}

// Item is one planned run.
type Item struct {
	Kind    Kind
	Variant int
}

// Plan lays out m runs: each kind with a positive share gets at least one
// run per variant (so a small CI soak still has them all), variants rotate within a
// kind, and the order is shuffled by seed.
func Plan(m int, mix Mix, seed uint64) []Item {
	kinds := make([]Kind, 0, len(mix))
	for k, share := range mix {
		if k != KindNormal && share > 0 {
			kinds = append(kinds, k)
		}
	}
	sort.Slice(kinds, func(i, j int) bool { return kinds[i] < kinds[j] })
	items := make([]Item, 0, m)
	for _, k := range kinds {
		n := max(variants[k], int(math.Round(mix[k]*float64(m))))
		for i := 0; i < n && len(items) < m; i++ {
			items = append(items, Item{Kind: k, Variant: i % variants[k]})
		}
	}
	for len(items) < m {
		items = append(items, Item{Kind: KindNormal})
	}
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	r.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	return items
}

// Milestones spreads n events over a workload of m runs: the run indexes
// at which they fire, strictly inside the workload (never at its very start
// or end, where an event would test nothing).
func Milestones(m, n int) []int {
	out := make([]int, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, i*m/(n+1))
	}
	return out
}
