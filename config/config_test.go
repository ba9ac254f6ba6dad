package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/config"
)

func TestAnnotatedExampleLoads(t *testing.T) {
	cfg, err := config.Load("../deploy/smsq.example.yaml", []string{"SMSQ_PROVIDERS__KECCEL__TOKEN=k"})
	require.NoError(t, err)
	require.Equal(t, "redis://127.0.0.1:6379/0", cfg.Redis.URL)
	require.Equal(t, []string{"keccel"}, cfg.Providers.Names())
	require.Equal(t, "MYCOMPANY", cfg.Providers.Keccel.From)
	require.Equal(t, "100/min", cfg.Providers.Kaizala.Throttle.Rate)
}

func TestDefaultsAreTheDocumentedOnes(t *testing.T) {
	cfg, err := config.Load("", nil)
	require.NoError(t, err)
	require.True(t, cfg.Redis.Embedded())
	require.Equal(t, 20, cfg.Worker.Concurrency)
	require.Equal(t, 25*time.Second, cfg.Worker.ShutdownTimeout)
	require.Equal(t, 8, cfg.Send.MaxAttempts)
	require.Equal(t, 10, cfg.Send.MaxSegments)
	require.Equal(t, 72*time.Hour, cfg.Delivery.Expiry)
	require.Equal(t, "127.0.0.1:7379", cfg.Embedded.RedisAddr)
}

func TestEnvironmentOverridesTheFile(t *testing.T) {
	cfg, err := config.Load("../deploy/smsq.example.yaml", []string{
		"SMSQ_PROVIDERS__KECCEL__TOKEN=from-env",
		"SMSQ_WORKER__CONCURRENCY=7",
		"SMSQ_WORKER__SHUTDOWN_TIMEOUT=3s",
		"SMSQ_REDIS__URL=redis://10.1.1.1:6380/2",
		"OTHER_VAR=ignored",
	})
	require.NoError(t, err)
	require.Equal(t, "from-env", cfg.Providers.Keccel.Token)
	require.Equal(t, 7, cfg.Worker.Concurrency)
	require.Equal(t, 3*time.Second, cfg.Worker.ShutdownTimeout)
	require.Equal(t, "redis://10.1.1.1:6380/2", cfg.Redis.URL)
}

func TestErrorsNameTheField(t *testing.T) {
	for env, field := range map[string]string{
		"SMSQ_WORKER__CONCURRENCY=0x":         "worker.concurrency",
		"SMSQ_SEND__MAX_ATTEMPTS=-1":          "send.max_attempts",
		"SMSQ_SEND__MAX_SEGMENTS=300":         "send.max_segments",
		"SMSQ_LOG__LEVEL=loud":                "log.level",
		"SMSQ_REDIS__DB=16":                   "redis.db",
		"SMSQ_REDIS__SENTINEL__MASTER_NAME=m": "redis.sentinel.addrs",
		"SMSQ_WORKER__BOGUS=1":                "bogus",
	} {
		_, err := config.Load("", []string{env})
		require.Error(t, err, env)
		require.Contains(t, err.Error(), field, env)
	}
	_, err := config.Load("", []string{"SMSQ_SEND__MAX_ATTEMPTS=-1"})
	var fe *config.FieldError
	require.True(t, errors.As(err, &fe))
	require.Equal(t, "send.max_attempts", fe.Field)
}

func TestSentinelAndClusterAreAccepted(t *testing.T) {
	cfg, err := config.Load("", []string{
		"SMSQ_REDIS__SENTINEL__MASTER_NAME=mymaster",
		"SMSQ_REDIS__SENTINEL__ADDRS=127.0.0.1:26379,127.0.0.1:26380",
		"SMSQ_PROVIDERS__KECCEL__ENABLED=true", "SMSQ_PROVIDERS__KECCEL__TOKEN=t", "SMSQ_PROVIDERS__KECCEL__FROM=X",
	})
	require.NoError(t, err)
	require.Equal(t, []string{"127.0.0.1:26379", "127.0.0.1:26380"}, cfg.Redis.Sentinel.Addrs)
	require.False(t, cfg.Redis.Embedded())
}

func TestAPIKeyCallbackMustBePublicUnlessAllowed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		yaml string
		want string
	}{
		"loopback":      {"api:\n  keys:\n    - {name: shop, key: shop-key-0123456789, callback_url: 'http://127.0.0.1:9000/x'}\n", "api.keys[0].callback_url"},
		"metadata":      {"api:\n  keys:\n    - {name: shop, key: shop-key-0123456789, callback_url: 'http://169.254.169.254/'}\n", "api.keys[0].callback_url"},
		"localhost":     {"api:\n  keys:\n    - {name: shop, key: shop-key-0123456789, callback_url: 'http://localhost/x'}\n", "api.keys[0].callback_url"},
		"not http":      {"api:\n  keys:\n    - {name: shop, key: shop-key-0123456789, callback_url: 'ftp://shop.example/'}\n", "api.keys[0].callback_url"},
		"allowed":       {"api:\n  allow_private_callbacks: true\n  keys:\n    - {name: shop, key: shop-key-0123456789, callback_url: 'http://127.0.0.1:9000/x'}\n", ""},
		"admin key":     {"api:\n  keys:\n    - {name: ops, key: ops-key-0123456789ab, admin: true}\n", ""},
		"public target": {"api:\n  keys:\n    - {name: shop, key: shop-key-0123456789, callback_url: 'https://shop.example/x'}\n", ""},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".yaml")
		require.NoError(t, os.WriteFile(p, []byte(tc.yaml), 0o600))
		_, err := config.Load(p, nil)
		if tc.want == "" {
			require.NoError(t, err, name)
			continue
		}
		var fe *config.FieldError
		require.ErrorAs(t, err, &fe, name)
		require.Equal(t, tc.want, fe.Field, name)
		require.NotContains(t, err.Error(), "shop-key-0123456789", name)
	}
	cfg, err := config.Load(filepath.Join(dir, "public_target.yaml"), nil)
	require.NoError(t, err)
	require.False(t, cfg.API.Keys[0].Admin, "keys are not admin by default")
	require.False(t, cfg.API.AllowPrivateCallbacks, "private callbacks are refused by default")
	cfg, err = config.Load(filepath.Join(dir, "admin_key.yaml"), nil)
	require.NoError(t, err)
	require.True(t, cfg.API.Keys[0].Admin)
	cfg, err = config.Load(filepath.Join(dir, "allowed.yaml"), nil)
	require.NoError(t, err)
	require.True(t, cfg.API.AllowPrivateCallbacks)
}
