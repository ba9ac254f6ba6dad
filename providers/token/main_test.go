package token_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Sources start singleflight goroutines and Redis lock releases: none may
// outlive the tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
