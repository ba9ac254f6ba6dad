package chaos

import (
	"math/rand/v2"
	"sort"
	"time"

	"github.com/smsq/smsq/sandbox"
)

// disruption is one planned process disruption.
type disruption struct {
	At   time.Duration // after the traffic starts
	Kind string        // "kill" or "redis"
	Slot int           // the worker slot a kill hits
}

// storm is one planned spell of provider faults.
type storm struct {
	At, For time.Duration
	Kind    string // "429" or "5xx"
}

// Faults are what the sandbox serves during a storm of this kind.
func (s storm) Faults() sandbox.Faults {
	if s.Kind == "429" {
		return sandbox.Faults{TooManyRate: 0.5, RetryAfter: "1"}
	}
	return sandbox.Faults{ServerErrorRate: 0.3}
}

func (s storm) describe() string {
	if s.Kind == "429" {
		return "50% of calls answered 429 with Retry-After 1"
	}
	return "30% of calls answered 503"
}

// plan is the disruptions and storms of a run.
type plan struct {
	Disruptions []disruption
	Storms      []storm
}

// makePlan draws a plan from rng: kills SIGKILLs of random workers and
// restarts Redis restarts, at random times inside window, one in each of
// equal slices of it (in random order), so that no two fall closer than
// 40 % of a slice; and storms spells of 429s and as many of 5xx, each
// lasting length, one in each of equal slices, never overlapping.
func makePlan(rng *rand.Rand, window time.Duration, kills, restarts, workers, storms int, length time.Duration) plan {
	var p plan
	kinds := make([]string, 0, kills+restarts)
	for range kills {
		kinds = append(kinds, "kill")
	}
	for range restarts {
		kinds = append(kinds, "redis")
	}
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	if n := len(kinds); n > 0 {
		slice := window / time.Duration(n)
		for i, k := range kinds {
			at := time.Duration(i)*slice + time.Duration((0.2+0.6*rng.Float64())*float64(slice))
			d := disruption{At: at, Kind: k}
			if k == "kill" {
				d.Slot = rng.IntN(max(1, workers))
			}
			p.Disruptions = append(p.Disruptions, d)
		}
	}
	skinds := make([]string, 0, 2*storms)
	for range storms {
		skinds = append(skinds, "429", "5xx")
	}
	rng.Shuffle(len(skinds), func(i, j int) { skinds[i], skinds[j] = skinds[j], skinds[i] })
	if n := len(skinds); n > 0 {
		slice := window / time.Duration(n)
		room := max(0, slice-length)
		for i, k := range skinds {
			at := time.Duration(i)*slice + time.Duration(rng.Float64()*float64(room))
			p.Storms = append(p.Storms, storm{At: at, For: min(length, slice), Kind: k})
		}
	}
	sort.Slice(p.Disruptions, func(i, j int) bool { return p.Disruptions[i].At < p.Disruptions[j].At })
	return p
}
