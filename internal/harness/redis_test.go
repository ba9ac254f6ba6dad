package harness

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

func needBinary(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s not on PATH: install it (Debian: apt-get install -y %s)", name, name)
	}
}

func TestRedisKeepsAcknowledgedWritesAcrossAKillAndRelaunch(t *testing.T) {
	t.Parallel()
	needBinary(t, "redis-server")
	ctx := context.Background()
	r, err := StartRedis(ctx, t.TempDir(), RedisOptions{AppendFsync: "always"})
	require.NoError(t, err)
	t.Cleanup(func() { r.Kill() })
	require.Equal(t, "redis", r.Name())
	first := r.Proc()
	require.NotEqual(t, "?", r.Version(ctx))
	c := r.Client()
	defer c.Close()
	require.Equal(t, "yes", aofConfig(ctx, t, c))

	addr := r.Addr
	require.NoError(t, c.Set(ctx, "k", "v", 0).Err())
	r.Kill()
	require.Error(t, c.Ping(ctx).Err(), "down, and the client does not retry")
	require.NoError(t, r.Relaunch(ctx))
	require.Equal(t, addr, r.Addr, "same port")
	require.True(t, first.Exited())
	require.NotSame(t, first, r.Proc(), "a new process")
	got, err := c.Get(ctx, "k").Result()
	require.NoError(t, err)
	require.Equal(t, "v", got, "reloaded from the AOF")
}

func aofConfig(ctx context.Context, t *testing.T, c *redis.Client) string {
	t.Helper()
	m, err := c.ConfigGet(ctx, "appendonly").Result()
	require.NoError(t, err)
	return m["appendonly"]
}

func TestRedisReplicaAndSentinel(t *testing.T) {
	t.Parallel()
	needBinary(t, "redis-server")
	needBinary(t, "redis-sentinel")
	ctx := context.Background()
	dir := t.TempDir()
	master, err := StartRedis(ctx, dir, RedisOptions{Name: "a"})
	require.NoError(t, err)
	t.Cleanup(func() { master.Kill() })
	replica, err := StartRedis(ctx, dir, RedisOptions{Name: "b", ReplicaOf: master.Addr})
	require.NoError(t, err)
	t.Cleanup(func() { replica.Kill() })
	mc := master.Client()
	defer mc.Close()
	require.Equal(t, "no", aofConfig(ctx, t, mc))
	rc := replica.Client()
	defer rc.Close()
	require.NoError(t, WaitFor(ctx, 15*time.Second, 20*time.Millisecond, "replica linked", func() bool {
		return InfoField(ctx, rc, "replication", "master_link_status") == "up"
	}))
	require.Equal(t, "slave", InfoField(ctx, rc, "replication", "role"))
	require.Empty(t, InfoField(ctx, rc, "replication", "no_such_field"))

	s, err := StartSentinel(ctx, dir, SentinelOptions{MasterName: "m", MasterAddr: master.Addr, Quorum: 2})
	require.NoError(t, err)
	t.Cleanup(func() { s.Kill() })
	require.Equal(t, "sentinel", s.Name())
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr})
	defer sc.Close()
	m, err := sc.Master(ctx, "m").Result()
	require.NoError(t, err)
	require.Equal(t, "2", m["quorum"])
	require.Equal(t, "30000", m["down-after-milliseconds"], "Redis's own default")
	require.Equal(t, master.Addr, m["ip"]+":"+m["port"])
}

func TestSentinelOptionsValidateNamesTheField(t *testing.T) {
	t.Parallel()
	for field, o := range map[string]SentinelOptions{
		"sentinel.master_name": {MasterAddr: "127.0.0.1:1"},
		"sentinel.master_addr": {MasterName: "m"},
		"sentinel.quorum":      {MasterName: "m", MasterAddr: "127.0.0.1:1", Quorum: -1},
	} {
		err := o.Validate()
		require.ErrorContains(t, err, "harness: "+field, field)
	}
	require.ErrorContains(t, SentinelOptions{MasterName: "m", MasterAddr: "nohost"}.Validate(), "sentinel.master_addr")
	_, err := StartSentinel(context.Background(), t.TempDir(), SentinelOptions{})
	require.ErrorContains(t, err, "master_name")
}

func TestStartRedisRefusesBadReplicaOf(t *testing.T) {
	t.Parallel()
	needBinary(t, "redis-server")
	_, err := StartRedis(context.Background(), t.TempDir(), RedisOptions{ReplicaOf: "nohost"})
	require.ErrorContains(t, err, "replica_of")
}

// Not parallel: it empties PATH for the whole process.
func TestStartWithoutTheBinaries(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := StartRedis(context.Background(), t.TempDir(), RedisOptions{})
	require.ErrorIs(t, err, ErrNoRedis)
	_, err = StartSentinel(context.Background(), t.TempDir(), SentinelOptions{MasterName: "m", MasterAddr: "127.0.0.1:1"})
	require.ErrorIs(t, err, ErrNoSentinel)
	require.True(t, strings.HasPrefix(ErrNoRedis.Error(), "redis-server not found"))
}
