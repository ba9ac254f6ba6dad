package bench

import (
	"fmt"
	"time"
)

// pct is x as a signed percentage with two decimals.
func pct(x float64) string { return fmt.Sprintf("%+.2f%%", 100*x) }

// dur rounds d for a table: to 100ms from 10s up, else to the millisecond.
func dur(d time.Duration) string {
	if d >= 10*time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}
