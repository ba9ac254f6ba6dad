package config_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/smsq/smsq/config"
)

// FuzzLoad: any file and override either loads into a valid config or is
// refused with an error; it never panics.
func FuzzLoad(f *testing.F) {
	example, _ := os.ReadFile("../deploy/smsq.example.yaml")
	f.Add(example, "SMSQ_PROVIDERS__KECCEL__TOKEN=x")
	f.Add([]byte("worker:\n  concurrency: 3\n"), "SMSQ_WORKER__SHUTDOWN_TIMEOUT=1s")
	f.Add([]byte("providers: [1,2]\n"), "SMSQ_REDIS__DB=x")
	f.Add([]byte("redis:\n  sentinel:\n    addrs: a,b\n"), "SMSQ_REDIS__SENTINEL__MASTER_NAME=m")
	f.Fuzz(func(t *testing.T, yaml []byte, env string) {
		p := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(p, yaml, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(p, []string{env})
		if err != nil {
			return
		}
		if verr := cfg.Validate(); verr != nil {
			t.Fatalf("Load accepted a config Validate refuses: %v", verr)
		}
	})
}
